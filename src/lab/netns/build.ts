// Brings the netns lab up: namespaces, links, addresses and routes in a
// few `ip -batch` calls, then sysctls, the vpn's cloud-fabric rule,
// kube-proxy's rules on both nodes and the two pods, in parallel.

import { execa } from 'execa';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../../errors.js';
import type { IptablesBackend, KubeProxyConfig } from '../../events/types.js';
import { NAMED_NETNS_DIR } from '../../tracer/netns.js';
import { projectRoot } from '../../util/paths.js';
import { inNetns, ipBatch, ipBatchToTheEnd } from './exec.js';
import { syncNode, restoreCommand } from './kubeproxy.js';
import { labLockFd } from './lock.js';
import { addMarkedLines } from './mark.js';
import {
  HOSTS,
  NETWORKS,
  OFFICE_LOAD_SOURCES,
  PODS,
  VPC_ROUTER,
  labNamespaces,
  netnsName,
  podNetns,
} from './topology.js';

export function helperPath(): string {
  return join(projectRoot(), 'build', 'natscope-net');
}

// The cloud fabric: a stateful router drops what conntrack calls INVALID,
// such as a SYN-ACK for a SYN it never saw (incident.md, point 7).
export const VPN_RULES = `*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -m conntrack --ctstate INVALID -m comment --comment "cloud fabric: drop replies without a request" -j DROP
COMMIT
`;

// The namespaces being added, if they are: a teardown waits for them first.
let adding: Promise<void> = Promise.resolve();

export async function namespacesAdded(): Promise<void> {
  await adding.catch(() => undefined);
}

// Until each namespace is there to be entered: its name is a mount of the
// namespace (on another device than the folder). On a machine where no named
// namespace was ever added since boot the folder itself is missing until `ip`
// makes it, so it is looked at with each name, not once before. Stops
// looking when `stop` aborts (ip failed: they will never be there).
export async function namespacesMounted(names: string[], stop: AbortSignal, dir = NAMED_NETNS_DIR): Promise<void> {
  const missing = (left: string[]): string[] => {
    let folder: number;
    try {
      folder = statSync(dir).dev;
    } catch {
      return left;
    }
    return left.filter((name) => {
      try {
        return statSync(`${dir}/${name}`).dev === folder;
      } catch {
        return true;
      }
    });
  };
  for (let left = names; left.length > 0 && !stop.aborted; left = missing(left)) await sleep(1);
}

export async function buildLab(
  prefix: string,
  kubeProxy: KubeProxyConfig,
  backend: IptablesBackend,
  log: (s: string) => void,
): Promise<void> {
  const ns = (s: string) => netnsName(prefix, s);
  const [office, vpn, vpc, node1, node2] = ['office', 'vpn', 'vpc', 'node1', 'node2'].map(ns) as [
    string,
    string,
    string,
    string,
    string,
  ];
  const pods = PODS.map((p) => ({
    ...p,
    ns: podNetns(prefix, p.name),
    host: p.node === 'node1' ? node1 : node2,
    gw: HOSTS[p.node].gateway,
  }));

  log('namespaces');
  // one ip process adds them all, then marks them all, whatever happens to natscope (mark.ts);
  // the links go in while it marks
  const names = labNamespaces(prefix);
  adding = ipBatchToTheEnd(addMarkedLines(prefix, names), labLockFd(prefix));
  const added = new AbortController();
  try {
    await Promise.race([namespacesMounted(names, added.signal), adding]);
  } finally {
    added.abort();
  }

  log('links');
  // created from inside the vpc namespace: even a typo cannot land a link on the host
  await ipBatch(vpc, [
    'link add br0 type bridge',
    `link add tun0 netns ${office} type veth peer name tun0 netns ${vpn}`,
    `link add vpn type veth peer name eth0 netns ${vpn}`,
    `link add node1 type veth peer name eth0 netns ${node1}`,
    `link add node2 type veth peer name eth0 netns ${node2}`,
    'link set lo up',
    'link set br0 up',
    `addr add ${VPC_ROUTER}/24 dev br0`,
    ...['vpn', 'node1', 'node2'].map((l) => `link set ${l} master br0 up`),
  ]);
  await Promise.all(
    pods.map((p) => ipBatch(p.host, [`link add veth-${p.name} type veth peer name eth0 netns ${p.ns}`])),
  );

  log('addresses and routes');
  const nodeBatch = (name: 'node1' | 'node2', other: 'node1' | 'node2') => [
    'link set lo up',
    `addr add ${HOSTS[name].ip}/24 dev eth0`,
    'link set eth0 up',
    'link add cni0 type bridge',
    `addr add ${HOSTS[name].gateway}/24 dev cni0`,
    'link set cni0 up',
    ...pods.filter((p) => p.node === name).map((p) => `link set veth-${p.name} master cni0 up`),
    `route add ${NETWORKS.office} via ${HOSTS.vpn.ip}`,
    `route add ${HOSTS[other].podCIDR} via ${HOSTS[other].ip}`,
    `route add default via ${VPC_ROUTER}`,
  ];
  await Promise.all([
    ipBatch(office, [
      'link set lo up',
      `addr add ${HOSTS.office.ip}/24 dev tun0`,
      ...OFFICE_LOAD_SOURCES.map((ip) => `addr add ${ip}/24 dev tun0`),
      'link set tun0 up',
      `route add default via ${HOSTS.vpn.tunnelIp}`,
    ]),
    ipBatch(vpn, [
      'link set lo up',
      `addr add ${HOSTS.vpn.tunnelIp}/24 dev tun0`,
      'link set tun0 up',
      `addr add ${HOSTS.vpn.ip}/24 dev eth0`,
      'link set eth0 up',
      // a cloud route table can point the Service CIDR at one instance only
      `route add ${NETWORKS.services} via ${HOSTS.node1.ip}`,
      `route add ${HOSTS.node1.podCIDR} via ${HOSTS.node1.ip}`,
      `route add ${HOSTS.node2.podCIDR} via ${HOSTS.node2.ip}`,
    ]),
    ipBatch(node1, nodeBatch('node1', 'node2')),
    ipBatch(node2, nodeBatch('node2', 'node1')),
    ...pods.map((p) =>
      ipBatch(p.ns, [
        'link set lo up',
        `addr add ${p.ip}/24 dev eth0`,
        'link set eth0 up',
        `route add default via ${p.gw}`,
      ]),
    ),
  ]);

  log(`forwarding, the vpn's cloud-fabric rule, kube-proxy rules (${kubeProxy.mode} mode)`);
  const forward = (n: string, extra: string[] = []) =>
    inNetns(n, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', ...extra]);
  // kube-proxy's iptables mode sets route_localnet so NodePorts answer on
  // 127.0.0.1; its nftables mode does not serve NodePorts on localhost
  const nodeSysctls = kubeProxy.mode === 'iptables' ? ['net.ipv4.conf.all.route_localnet=1'] : [];
  await Promise.all([
    // the VPC's router routes nothing it is sent (VPC_ROUTER)
    inNetns(vpc, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']),
    forward(vpn).then(() => inNetns(vpn, restoreCommand(backend), { input: VPN_RULES })),
    forward(node1, nodeSysctls).then(() => syncNode(node1, 'node1', kubeProxy, backend, true)),
    forward(node2, nodeSysctls).then(() => syncNode(node2, 'node2', kubeProxy, backend, true)),
  ]);

  await adding;
  log('pods');
  await Promise.all(pods.map((p) => startPod(p.ns, p.name, p.node, p.port, p.proto)));
}

async function startPod(ns: string, name: string, node: string, port: number, proto: string): Promise<void> {
  const child = execa(
    'ip',
    [
      'netns',
      'exec',
      ns,
      helperPath(),
      'serve',
      '--port',
      String(port),
      '--name',
      name,
      '--node',
      node,
      '--proto',
      proto,
    ],
    {
      detached: true,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
    },
  );
  const ready = await new Promise<boolean>((resolve) => {
    let seen = '';
    const timer = setTimeout(() => resolve(false), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes('ready')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    void child.then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  if (!ready) {
    child.kill('SIGKILL');
    const result = await child;
    const err = String(result.stderr ?? '').trim() || (result instanceof Error ? result.message : '') || 'exited';
    throw new NatscopeError(`pod ${name} did not start: ${err}`, { hint: 'build the helper: npm run build' });
  }
  // the pod lives on after this command: let go of its pipes
  child.stdout?.destroy();
  child.stderr?.destroy();
  child.unref();
}
