// The kind lab's Docker plumbing for real (root): a Docker engine of the
// test's own, the lab image built here (`docker import`), the office client
// and vpn router made by the lab's code on their networks with the lab's
// routes, and two stand-ins for kind's worker nodes (kind itself needs
// privileged containers, which this machine refuses): containers on a
// "kind" network serving as the nginx and mysql pods at pod IPs, node1
// DNATing the ClusterIPs as kube-proxy does when it does not masquerade.
// Then the lab's readiness proof and netns naming run against them. The
// host's own namespace is compared before and after.

import { readlinkSync, statSync } from 'node:fs';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { docker, inspectContainers, parseContainers } from '../../../src/lab/kind/docker.js';
import { ensureImage } from '../../../src/lab/kind/image.js';
import { Kubectl, type KubeNode, type KubePod, type KubeService } from '../../../src/lab/kind/kubectl.js';
import { kindDown } from '../../../src/lab/kind/lab.js';
import { kindNames, officePlan, type KindNames, type OfficePlan } from '../../../src/lab/kind/names.js';
import { ensureOfficeNetwork, routeLab, startOfficeAndVpn } from '../../../src/lab/kind/network.js';
import { inNetnsOf, ipBatch } from '../../../src/lab/kind/nsenter.js';
import { proveReadiness, type ReadinessProbe } from '../../../src/lab/kind/readiness.js';
import { KindLab } from '../../../src/lab/kind/running.js';
import { assembleTopology, type KindTopology } from '../../../src/lab/kind/topology.js';
import { NetnsResolver } from '../../../src/tracer/netns.js';
import { isRoot } from '../../helpers.js';
import { startDockerd, type TestDockerd } from './dockerd.js';

const names = kindNames('natscope-');
const plan = officePlan('192.168.10.0/24');
const INCIDENT = { mode: 'iptables' as const, masqueradeAll: false, clusterCIDR: null };
const NODES = [
  {
    name: 'natscope-worker',
    role: 'node1',
    pod: 'nginx',
    port: 80,
    proto: 'http',
    podIP: '10.244.2.2',
    podCIDR: '10.244.2.0/24',
  },
  {
    name: 'natscope-worker2',
    role: 'node2',
    pod: 'mysql',
    port: 3306,
    proto: 'mysql',
    podIP: '10.244.1.2',
    podCIDR: '10.244.1.0/24',
  },
] as const;
const CLUSTER_IPS = { nginx: '10.96.48.29', mysql: '10.96.207.61' };

// The host's own namespace: what the test must leave exactly as it was.
async function hostSnapshot(): Promise<Record<string, string>> {
  const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { reject: false })).stdout;
  return {
    links: (await run('ip', ['-o', 'link'])).replace(/\s+link\/\S+ \S+ brd \S+/g, ''),
    addresses: await run('ip', ['-o', 'addr']),
    routes: await run('ip', ['route', 'show', 'table', 'all']),
    iptables: (await run('iptables-save', [])).replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, ''),
    nft: await run('nft', ['list', 'ruleset']),
    sysctls: await run('sysctl', ['-e', 'net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables']),
    dockerFiles: await run('sh', ['-c', 'ls -A /etc/docker /run/containerd /var/lib/docker /run/docker 2>&1']),
  };
}

let d: TestDockerd;
let before: Record<string, string>;
let image: string;
const saved = { DOCKER_HOST: process.env.DOCKER_HOST, DOCKER_CONFIG: process.env.DOCKER_CONFIG };

// Stand-ins for kind's workers: a node that also plays its pod (at the pod's IP).
async function startNode(n: (typeof NODES)[number]): Promise<void> {
  await docker([
    'run',
    '--detach',
    '--name',
    n.name,
    '--label',
    'io.x-k8s.kind.cluster=natscope',
    '--network',
    'kind',
    '--sysctl',
    'net.ipv4.ip_forward=1',
    '--entrypoint',
    '/natscope-net',
    image,
    'serve',
    '--port',
    String(n.port),
    '--name',
    n.pod,
    '--node',
    n.name,
    '--proto',
    n.proto,
  ]);
}

async function topologyFor(ns: KindNames, p: OfficePlan): Promise<KindTopology> {
  const containers = await inspectContainers([...NODES.map((n) => n.name), ns.vpn, ns.office]);
  const kubeNodes: KubeNode[] = NODES.map((n) => ({
    name: n.name,
    internalIP: containers.find((c) => c.name === n.name)!.networks.kind!,
    podCIDR: n.podCIDR,
    labels: { 'natscope.io/lab-node': n.role },
    ready: true,
  }));
  const pods: KubePod[] = NODES.map((n) => ({
    name: n.pod,
    namespace: 'default',
    uid: `uid-${n.pod}`,
    node: n.name,
    ip: n.podIP,
    ready: true,
    terminating: false,
    labels: {},
  }));
  const services: KubeService[] = [
    {
      namespace: 'default',
      name: 'nginx',
      clusterIP: CLUSTER_IPS.nginx,
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
    {
      namespace: 'default',
      name: 'mysql',
      clusterIP: CLUSTER_IPS.mysql,
      ports: [{ name: 'mysql', port: 3306, protocol: 'TCP' }],
    },
  ];
  return assembleTopology(ns, p, kubeNodes, containers, pods, services);
}

function probeFor(lab: KindLab, t: KindTopology, logs: string[]): ReadinessProbe {
  return {
    request: (target) => lab.request(target, 1500),
    conntrack: (role) => lab.conntrack(role),
    node1Ip: t.nodes.find((n) => n.role === 'node1')!.ip,
    mysqlPodIp: '10.244.1.2',
    officeIp: t.plan.client,
    officeCidr: t.plan.cidr,
    log: (l) => logs.push(l),
  };
}

let topology: KindTopology;
let lab: KindLab;

beforeAll(async () => {
  if (!isRoot) return;
  before = await hostSnapshot();
  d = await startDockerd();
  Object.assign(process.env, d.env);
  image = await ensureImage(() => undefined);
  // what `kind create cluster` makes: a bridge network named kind, masquerading its own subnet
  await docker([
    'network',
    'create',
    '--driver',
    'bridge',
    '--opt',
    'com.docker.network.bridge.enable_ip_masquerade=true',
    'kind',
  ]);
  for (const n of NODES) await startNode(n);
  await ensureOfficeNetwork(names, plan);
  await startOfficeAndVpn(names, plan, image, 'kind');
  topology = await topologyFor(names, plan);
  await routeLab(topology);
  const [node1, node2] = topology.nodes;
  // the pods' addresses, routes between the nodes' pod CIDRs (kindnet's job)
  await ipBatch(node1!.pid, ['addr add 10.244.2.2/32 dev lo', `route replace 10.244.1.0/24 via ${node2!.ip}`]);
  await ipBatch(node2!.pid, ['addr add 10.244.1.2/32 dev lo', `route replace 10.244.2.0/24 via ${node1!.ip}`]);
  // kube-proxy on node1 without a masquerade rule: DNAT only
  await inNetnsOf(node1!.pid, ['iptables-restore', '--noflush'], {
    input: `*nat\n-A PREROUTING -d ${CLUSTER_IPS.mysql}/32 -p tcp -m tcp --dport 3306 -j DNAT --to-destination 10.244.1.2:3306\n-A PREROUTING -d ${CLUSTER_IPS.nginx}/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.2.2:80\nCOMMIT\n`,
  });
  lab = new KindLab(names, plan, new Kubectl('/nonexistent'), topology);
}, 180_000);

afterAll(async () => {
  if (!isRoot) return;
  await d?.stop();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const after = await hostSnapshot();
  expect(after).toEqual(before);
}, 120_000);

describe.skipIf(!isRoot)("the kind lab's Docker plumbing, on a real Docker engine", () => {
  test('the lab image is built here with docker import: natscope-net and pause, statically linked', async () => {
    expect(image).toMatch(/^natscope-lab:[0-9a-f]{12}$/);
    const config = z
      .object({ Entrypoint: z.array(z.string()), Labels: z.record(z.string(), z.string()) })
      .parse(JSON.parse((await docker(['image', 'inspect', '--format', '{{json .Config}}', image])).stdout));
    expect(config.Entrypoint).toEqual(['/pause']);
    expect(config.Labels['io.natscope.image']).toBe('lab');
  });

  test('the office client is on the office network only, the vpn router on the office and kind networks', async () => {
    const [office, vpn] = await inspectContainers([names.office, names.vpn]);
    expect(office!.networks).toEqual({ 'natscope-office': '192.168.10.10' });
    expect(Object.keys(vpn!.networks).sort()).toEqual(['kind', 'natscope-office']);
    expect(vpn!.networks['natscope-office']).toBe('192.168.10.1');
    expect(office!.labels['io.natscope.lab']).toBe('natscope');
  });

  test("Docker does not NAT the office network: no masquerade rule for it in the engine's namespace", async () => {
    const nat = await d.hostRules('nat');
    expect(nat).toMatch(/-A POSTROUTING -s 172\.\d+\.0\.0\/16 ! -o br-\w+ -j MASQUERADE/);
    expect(nat).not.toMatch(/192\.168\.10\.0\/24.*MASQUERADE/);
  });

  test("the routes are the incident's: office → vpn; vpn → Service CIDR via node1 only, pod CIDRs via their nodes; nodes → office via the vpn", async () => {
    const [node1, node2] = topology.nodes;
    expect(await lab.routes('office')).toMatch(/^default via 192\.168\.10\.1 dev eth0/);
    const vpn = await lab.routes('vpn');
    expect(vpn).toContain(`10.96.0.0/16 via ${node1!.ip}`);
    expect(vpn).toContain(`10.244.2.0/24 via ${node1!.ip}`);
    expect(vpn).toContain(`10.244.1.0/24 via ${node2!.ip}`);
    for (const role of ['node1', 'node2'])
      expect(await lab.routes(role)).toContain(`192.168.10.0/24 via ${topology.vpn!.ip}`);
    expect(await lab.rules('vpn')).toMatch(/-A FORWARD -m conntrack --ctstate INVALID .* -j DROP/);
  });

  test("the readiness proof passes: the pods see the office client's own IP, and mysql's ClusterIP hangs with node2 seeing the office", async () => {
    const logs: string[] = [];
    await proveReadiness(probeFor(lab, topology, logs), INCIDENT);
    expect(logs.join('\n')).toContain(
      "pod/mysql: answered by mysql on node2, which saw the office client's own address 192.168.10.10",
    );
    expect(logs.at(-1)).toMatch(
      /mysql: no answer \(the incident\); node2 got the DNATed SYN from the office's own address 192\.168\.10\.10:\d+/,
    );
    expect(await lab.vpnDrops()).toBeGreaterThan(0);
    const nginx = await lab.request('nginx', 1500);
    expect(nginx).toMatchObject({
      outcome: 'answered',
      pod: 'nginx',
      node: 'node1',
      peer: `192.168.10.10:${nginx.sport}`,
    });
  });

  test('netns inodes from docker inspect PIDs name the office, the vpn and the nodes', async () => {
    const resolver = new NetnsResolver();
    await lab.registerHosts(resolver);
    const containers = await inspectContainers([names.office, names.vpn, ...NODES.map((n) => n.name)]);
    const byName = Object.fromEntries(containers.map((c) => [c.name, statSync(`/proc/${c.pid}/ns/net`).ino]));
    expect(resolver.hostOf(byName['natscope-office']!)).toBe('office');
    expect(resolver.hostOf(byName['natscope-vpn']!)).toBe('vpn');
    expect(resolver.hostOf(byName['natscope-worker']!)).toBe('node1');
    expect(resolver.hostOf(byName['natscope-worker2']!)).toBe('node2');
    expect(new Set(Object.values(byName)).size).toBe(4);
    // the same number the kernel prints for the namespace
    const office = containers.find((c) => c.name === 'natscope-office')!;
    expect(readlinkSync(`/proc/${office.pid}/ns/net`)).toBe(`net:[${byName['natscope-office']}]`);
    expect(resolver.hostOf(statSync('/proc/self/ns/net').ino)).toBe('?');
  });

  test('an office network Docker masquerades hides the client from node2, and only the conntrack check catches it', async () => {
    // the same lab on an office network with Docker's default NAT left on
    const masqNames = kindNames('nsmasq-');
    const masqPlan = officePlan('192.168.20.0/24');
    await docker([
      'network',
      'create',
      '--driver',
      'bridge',
      '--subnet',
      masqPlan.cidr,
      '--gateway',
      masqPlan.gateway,
      '--label',
      'io.natscope.lab=nsmasq',
      masqNames.officeNetwork,
    ]);
    await startOfficeAndVpn(masqNames, masqPlan, image, 'kind');
    const t = await topologyFor(masqNames, masqPlan);
    await routeLab(t);
    expect(await d.hostRules('nat')).toMatch(/-A POSTROUTING -s 192\.168\.20\.0\/24 ! -o br-\w+ -j MASQUERADE/);
    const masqLab = new KindLab(masqNames, masqPlan, new Kubectl('/nonexistent'), t);
    // direct access still shows the client: the engine's conntrack saw that tuple on the office bridge first
    const direct = await masqLab.request('pod/mysql', 1500);
    expect(direct.peer).toBe(`192.168.20.10:${direct.sport}`);
    // the DNATed leg from node1 to node2 is a new tuple there, and Docker masquerades it
    await expect(proveReadiness(probeFor(masqLab, t, []), INCIDENT)).rejects.toThrow(
      /node2 saw the office's connection to mysql coming from 172\.\d+\.0\.1:\d+, not from 192\.168\.20\.10/,
    );
  });

  test('lab down removes the containers and networks natscope created, per lab, and leaves the rest', async () => {
    const log: string[] = [];
    expect((await kindDown({ prefix: 'nsmasq-', log: (l) => log.push(l) })).sort()).toEqual([
      'container nsmasq-office',
      'container nsmasq-vpn',
      'network nsmasq-office',
    ]);
    const removed = await kindDown({ prefix: 'natscope-', log: (l) => log.push(l) });
    expect(removed.sort()).toEqual(['container natscope-office', 'container natscope-vpn', 'network natscope-office']);
    const left = parseContainers((await docker(['container', 'inspect', ...NODES.map((n) => n.name)])).stdout).map(
      (c) => c.name,
    );
    expect(left).toEqual(['natscope-worker', 'natscope-worker2']);
    const networks = (await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n');
    expect(networks).toContain('kind');
    expect(networks.filter((n) => n.endsWith('-office'))).toEqual([]);
    expect(log).toEqual([]);
  });
});
