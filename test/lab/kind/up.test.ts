// `lab up --lab kind` from nothing, against fake docker, kind, kubectl and
// nsenter: what it runs, in which order, with which input.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { YAML } from 'zx';
import { z } from 'zod';
import type { LabStatus } from '../../../src/events/types.js';
import { imageTag } from '../../../src/lab/kind/image.js';
import { kindUp } from '../../../src/lab/kind/lab.js';
import { VPN_RULES } from '../../../src/lab/netns/build.js';
import { NODE_IMAGE } from '../../../src/lab/kind/versions.js';
import { order, output, useFakes, type Fakes } from './fakes.js';

let f: Fakes;
let status: LabStatus;
const logs: string[] = [];
let firstRun: string[] = [];

beforeAll(async () => {
  f = useFakes({ images: [await imageTag()] });
  status = await kindUp({ prefix: 'natscope-', masqueradeAll: false, clusterCIDR: null, log: (l) => logs.push(l) });
  firstRun = f.lines();
}, 180_000);

afterAll(() => f.restore());

const call = (re: RegExp) => f.calls().find((c) => re.test([c.tool, ...c.args].join(' ')));

describe('lab up --lab kind on a machine without the cluster', () => {
  test('the commands come in order: checks, cluster, image, workloads, office and vpn, routes, kube-proxy, proof', () => {
    const steps = order(firstRun, [
      /^docker version/,
      /^kind version -q/,
      /^kubectl version --client/,
      /^nsenter --target \d+ --net -- true$/,
      /^kind get clusters$/,
      /^kind create cluster --name natscope /,
      /^docker container inspect natscope-control-plane$/,
      /wait --for=condition=Ready nodes --all/,
      /^kind load docker-image natscope-lab:[0-9a-f]{12} --name natscope$/,
      /apply -f -$/,
      /wait --for=condition=Ready pod\/nginx pod\/mysql/,
      /^docker network create .* natscope-office$/,
      /^docker run --detach --name natscope-vpn /,
      /^docker network connect kind natscope-vpn$/,
      /^docker run --detach --name natscope-office /,
      /^nsenter --target 4190005 --net -- ip -batch -$/,
      /^nsenter --target 4190005 --net -- iptables-restore$/,
      /^nsenter --target 4190004 --net -- ip -batch -$/,
      /patch configmap kube-proxy --type merge/,
      /-n kube-system get pods -l k8s-app=kube-proxy -o json$/,
      /-n kube-system delete pods -l k8s-app=kube-proxy --wait=false$/,
      /^docker exec natscope-worker iptables-save -t nat$/,
      /request --proto http --timeout-ms 2000 10\.244\.2\.2 80$/,
      /request --proto mysql --timeout-ms 2000 10\.96\.207\.61 3306$/,
      /^nsenter --target 4190003 --net -- conntrack -L$/,
      /^nsenter --target 4190005 --net -- iptables -t filter -Z FORWARD$/,
    ]);
    expect(steps.filter((i) => i < 0)).toEqual([]);
    expect(status.up).toBe(true);
  });

  test("kind gets the lab's config on stdin, the pinned node image and natscope's own kubeconfig", () => {
    const create = call(/^kind create cluster/)!;
    expect(create.args).toEqual([
      'create',
      'cluster',
      '--name',
      'natscope',
      '--image',
      NODE_IMAGE,
      '--config',
      '-',
      '--kubeconfig',
      `${f.stateDir}/natscope-kind.kubeconfig`,
      '--wait',
      '5m',
    ]);
    const config = YAML.parse(create.stdin!);
    expect(config.kind).toBe('Cluster');
    expect(config.networking.kubeProxyMode).toBe('iptables');
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
  });

  test('the pods run the image natscope built, never pulled, pinned by nodeSelector', () => {
    const docs = z
      .array(
        z.object({
          kind: z.string(),
          spec: z.object({
            containers: z.array(z.object({ image: z.string(), imagePullPolicy: z.string() })).optional(),
            nodeSelector: z.record(z.string(), z.string()).optional(),
          }),
        }),
      )
      .parse(YAML.parseAllDocuments(call(/apply -f -$/)!.stdin!).map((d: { toJS(): unknown }) => d.toJS()));
    const pods = docs.filter((d) => d.kind === 'Pod');
    expect(pods.map((p) => p.spec.containers![0]!.image)).toEqual([
      expect.stringMatching(/^natscope-lab:[0-9a-f]{12}$/),
      expect.stringMatching(/^natscope-lab:[0-9a-f]{12}$/),
    ]);
    expect(pods.map((p) => p.spec.containers![0]!.imagePullPolicy)).toEqual(['Never', 'Never']);
    expect(pods.map((p) => p.spec.nodeSelector)).toEqual([
      { 'natscope.io/lab-node': 'node1' },
      { 'natscope.io/lab-node': 'node2' },
    ]);
  });

  test("the office network is one Docker does not NAT, labelled as natscope's, and the vpn sits on it and on kind's", () => {
    expect(call(/^docker network create/)!.args).toEqual([
      'network',
      'create',
      '--driver',
      'bridge',
      '--subnet',
      '192.168.10.0/24',
      '--gateway',
      '192.168.10.254',
      '--ip-range',
      '192.168.10.128/25',
      '--opt',
      'com.docker.network.bridge.enable_ip_masquerade=false',
      '--label',
      'io.natscope.lab=natscope',
      'natscope-office',
    ]);
    expect(call(/^docker run --detach --name natscope-vpn/)!.args).toEqual(
      expect.arrayContaining([
        '--ip',
        '192.168.10.1',
        '--sysctl',
        'net.ipv4.ip_forward=1',
        '--label',
        'io.natscope.lab=natscope',
      ]),
    );
    expect(call(/^docker run --detach --name natscope-office/)!.args).toEqual(
      expect.arrayContaining(['--ip', '192.168.10.10', '--network', 'natscope-office']),
    );
  });

  test('routes as in the incident: vpn → Service CIDR via node1 only, pod CIDRs via their nodes; nodes → office via the vpn', () => {
    const batches = f.calls().filter((c) => c.tool === 'nsenter' && c.args.includes('-batch'));
    const byPid = (pid: number) => batches.filter((c) => c.args[1] === String(pid)).map((c) => c.stdin!.trim());
    expect(byPid(4190005)).toEqual([
      [
        'route replace 10.96.0.0/16 via 172.18.0.3',
        'route replace 10.244.0.0/24 via 172.18.0.2',
        'route replace 10.244.2.0/24 via 172.18.0.3',
        'route replace 10.244.1.0/24 via 172.18.0.4',
      ].join('\n'),
    ]);
    for (const node of [4190001, 4190002, 4190003])
      expect(byPid(node)).toEqual(['route replace 192.168.10.0/24 via 172.18.0.5']);
    expect(byPid(4190004)[0]).toMatch(
      /^route replace default via 192\.168\.10\.1\naddr replace 192\.168\.10\.20\/24 dev eth0/,
    );
    expect(call(/-- iptables-restore$/)!.stdin).toBe(VPN_RULES);
  });

  test('the ConfigMap edit clears clusterCIDR, keeps masqueradeAll false, and is valid kube-proxy configuration', () => {
    const patch = z
      .object({ data: z.record(z.string(), z.string()) })
      .parse(JSON.parse(call(/patch configmap kube-proxy/)!.args.at(-1)!));
    expect(Object.keys(patch.data)).toEqual(['config.conf']);
    const before = YAML.parse(output('kube-proxy-config.conf'));
    const after = YAML.parse(patch.data['config.conf']!);
    expect(after.apiVersion).toBe('kubeproxy.config.k8s.io/v1alpha1');
    expect(after.kind).toBe('KubeProxyConfiguration');
    expect(after.mode).toBe('iptables');
    expect(after.clusterCIDR).toBe('');
    expect(after.iptables.masqueradeAll).toBe(false);
    expect({ ...after, clusterCIDR: before.clusterCIDR }).toEqual(before);
  });

  test('the lab is ready only once node1 and node2 show no masquerade rule in the mysql chain', () => {
    const deleted = firstRun.findIndex((l) => /delete pods -l k8s-app=kube-proxy/.test(l));
    const checks = firstRun
      .map((l, i) => [l, i] as const)
      .filter(([l, i]) => i > deleted && /^docker exec natscope-worker2? iptables-save -t nat$/.test(l));
    expect(new Set(checks.map(([l]) => l.split(' ')[2]))).toEqual(new Set(['natscope-worker', 'natscope-worker2']));
    const proof = firstRun.findIndex((l) => /request --proto/.test(l));
    expect(checks.every(([, i]) => i < proof)).toBe(true);
    expect(logs.join('\n')).toMatch(/kube-proxy restarted and re-synced in \d+\.\d s/);
  });

  test('the readiness proof ran from the office container: both pods directly, then both Services, and its traces were cleared', () => {
    const requests = firstRun.filter((l) => / request --proto /.test(l)).map((l) => l.split(' ').slice(-2).join(':'));
    expect(requests).toEqual(['10.244.2.2:80', '10.244.1.2:3306', '10.96.48.29:80', '10.96.207.61:3306']);
    expect(firstRun.filter((l) => /conntrack -D --orig-src 192\.168\.10\.10$/.test(l))).toHaveLength(4);
  });

  test("the status has the netns lab's shape, with kind's node IPs and the incident staged", () => {
    expect(status).toMatchObject({
      backend: 'kind',
      up: true,
      kubeProxy: { mode: 'iptables', masqueradeAll: false, clusterCIDR: null },
      hosts: {
        node1: { ip: '172.18.0.3' },
        node2: { ip: '172.18.0.4' },
        vpn: { ip: '172.18.0.5' },
        office: { ip: '192.168.10.10' },
      },
      pods: [
        { name: 'nginx', node: 'node1', ip: '10.244.2.2' },
        { name: 'mysql', node: 'node2', ip: '10.244.1.2' },
      ],
    });
  });

  test('progress names each step and what it proved', () => {
    expect(logs.filter((l) => /^\[\d\/7\]/.test(l))).toHaveLength(7);
    expect(logs.join('\n')).toMatch(/kind: Creating cluster "natscope" \.\.\./);
    expect(logs.join('\n')).toMatch(/node2 got the DNATed SYN from the office's own address 192\.168\.10\.10/);
  });

  test('running it again (vagrant provision, a reboot) reuses the cluster natscope created: no kind create, no kube-proxy restart', async () => {
    // after a reboot whose restart policy did not bring a node back
    f.update({ stopped: ['natscope-worker2'] });
    const before = f.calls().length;
    const again = await kindUp({ prefix: 'natscope-', masqueradeAll: false, clusterCIDR: null, log: () => undefined });
    const second = f.lines().slice(before);
    expect(second.some((l) => /^kind create cluster/.test(l))).toBe(false);
    expect(second.some((l) => /delete pods|patch configmap/.test(l))).toBe(false);
    expect(second).toContain('kind get kubeconfig --name natscope');
    expect(second).toContain('docker start natscope-worker2');
    expect(
      second.filter((l) =>
        /^docker rm --force natscope-vpn natscope-office$|^docker rm --force natscope-office natscope-vpn$/.test(l),
      ),
    ).toHaveLength(1);
    expect(again.up).toBe(true);
  }, 180_000);
});
