// The incident's network around the cluster, in Docker:
//   office client ── office network ── vpn router ── kind network ── nodes
// The office network is a bridge Docker does not NAT
// (com.docker.network.bridge.enable_ip_masquerade=false): otherwise Docker's
// "-s <office> ! -o <office bridge> -j MASQUERADE" rule in the VM's own
// namespace rewrites office traffic wherever the VM's netfilter sees it on
// another bridge (br_netfilter), and the pods would never see the client.
// Routes as in the incident: on the vpn, the Service CIDR → node1 only and
// each node's pod CIDR → that node; on every node, the office → the vpn;
// the vpn drops conntrack-INVALID packets in FORWARD (the cloud fabric).

import { networkInterfaces } from 'node:os';
import { NatscopeError } from '../../errors.js';
import { parseCidr, type Cidr } from '../../events/tuple.js';
import { VPN_RULES } from '../netns/build.js';
import { allNetworks, docker, inspectContainers, type ContainerInfo, type NetworkInfo } from './docker.js';
import {
  OWNER_LABEL,
  POD_SUBNET,
  SERVICE_SUBNET,
  networkOf,
  overlaps,
  type KindNames,
  type OfficePlan,
} from './names.js';
import { inNetnsOf, ipBatch } from './nsenter.js';
import type { KindTopology } from './topology.js';

export const NO_MASQUERADE = 'com.docker.network.bridge.enable_ip_masquerade=false';

export function ours(labels: Record<string, string>, names: KindNames): boolean {
  return labels[OWNER_LABEL] === names.cluster;
}

// What the office CIDR would collide with, or null: Docker's networks (other
// than the lab's own office network), the cluster's pod and Service
// subnets, and networks this host is on.
export function officeCollision(
  plan: OfficePlan,
  names: KindNames,
  networks: NetworkInfo[],
  hostNetworks: Cidr[],
): string | null {
  const office = parseCidr(plan.cidr)!;
  const dockerSubnets = new Set<string>();
  for (const n of networks) {
    for (const subnet of n.subnets) {
      dockerSubnets.add(subnet);
      if (n.name === names.officeNetwork && ours(n.labels, names)) continue;
      const c = parseCidr(subnet);
      if (c && overlaps(c, office)) return `Docker network "${n.name}" (${subnet})`;
    }
  }
  for (const [what, cidr] of [
    ['pod subnet', POD_SUBNET],
    ['Service subnet', SERVICE_SUBNET],
  ] as const) {
    if (overlaps(parseCidr(cidr)!, office)) return `the cluster's ${what} ${cidr}`;
  }
  for (const h of hostNetworks) {
    // a Docker bridge's own address is the Docker network above
    if (dockerSubnets.has(h.text)) continue;
    if (overlaps(h, office)) return `this host's network ${h.text}`;
  }
  return null;
}

export function hostNetworks(): Cidr[] {
  const list: Cidr[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal || !a.cidr) continue;
      const c = networkOf(a.cidr);
      if (c) list.push(c);
    }
  }
  return list;
}

export function checkOfficeCidr(plan: OfficePlan, names: KindNames, networks: NetworkInfo[]): void {
  const clash = officeCollision(plan, names, networks, hostNetworks());
  if (clash) {
    throw new NatscopeError(`the office CIDR ${plan.cidr} overlaps ${clash}`, {
      hint: 'choose a free one, e.g. NATSCOPE_KIND_OFFICE_CIDR=192.168.77.0/24 sudo -E natscope lab up --lab kind',
      exitCode: 2,
    });
  }
}

// Names natscope needs that something else already uses: refused, never removed.
export async function foreignNames(names: KindNames, networks: NetworkInfo[]): Promise<string[]> {
  const clashes: string[] = [];
  for (const c of await inspectContainers([names.office, names.vpn])) {
    if (!ours(c.labels, names)) clashes.push(`container ${c.name}`);
  }
  const net = networks.find((n) => n.name === names.officeNetwork);
  if (net && !ours(net.labels, names)) clashes.push(`Docker network ${net.name}`);
  return clashes;
}

export async function ensureOfficeNetwork(names: KindNames, plan: OfficePlan): Promise<void> {
  const existing = (await allNetworks()).find((n) => n.name === names.officeNetwork);
  if (
    existing &&
    ours(existing.labels, names) &&
    existing.subnets.includes(plan.cidr) &&
    existing.options['com.docker.network.bridge.enable_ip_masquerade'] === 'false'
  )
    return;
  if (existing) await docker(['network', 'rm', names.officeNetwork]);
  await docker([
    'network',
    'create',
    '--driver',
    'bridge',
    '--subnet',
    plan.cidr,
    '--gateway',
    plan.gateway,
    '--ip-range',
    plan.ipRange,
    '--opt',
    NO_MASQUERADE,
    '--label',
    `${OWNER_LABEL}=${names.cluster}`,
    names.officeNetwork,
  ]);
}

// natscope's office and vpn containers, if any: recreated on every `lab up`
// (they hold no state but their routes), and removed before their network.
export async function removeOfficeAndVpn(names: KindNames): Promise<void> {
  const mine = (await inspectContainers([names.office, names.vpn]))
    .filter((c) => ours(c.labels, names))
    .map((c) => c.name);
  if (mine.length > 0) await docker(['rm', '--force', ...mine]);
}

// The vpn router (on both networks) and the office client (office only).
export async function startOfficeAndVpn(
  names: KindNames,
  plan: OfficePlan,
  image: string,
  kindNetwork: string,
): Promise<ContainerInfo[]> {
  await removeOfficeAndVpn(names);
  const label = `${OWNER_LABEL}=${names.cluster}`;
  await docker([
    'run',
    '--detach',
    '--name',
    names.vpn,
    '--hostname',
    'vpn',
    '--label',
    label,
    '--network',
    names.officeNetwork,
    '--ip',
    plan.vpn,
    '--sysctl',
    'net.ipv4.ip_forward=1',
    image,
  ]);
  await docker(['network', 'connect', kindNetwork, names.vpn]);
  await docker([
    'run',
    '--detach',
    '--name',
    names.office,
    '--hostname',
    'office',
    '--label',
    label,
    '--network',
    names.officeNetwork,
    '--ip',
    plan.client,
    image,
  ]);
  return inspectContainers([names.vpn, names.office]);
}

export function vpnRoutes(t: KindTopology): string[] {
  const node1 = t.nodes.find((n) => n.role === 'node1')!;
  return [
    // a cloud route table can point a prefix at one instance only
    `route replace ${SERVICE_SUBNET} via ${node1.ip}`,
    ...t.nodes.filter((n) => n.podCIDR).map((n) => `route replace ${n.podCIDR} via ${n.ip}`),
  ];
}

export function officeRoutes(t: KindTopology, device: string): string[] {
  const bits = t.plan.cidr.split('/')[1];
  return [
    `route replace default via ${t.plan.vpn}`,
    ...t.plan.loadSources.map((ip) => `addr replace ${ip}/${bits} dev ${device}`),
  ];
}

export function nodeRoutes(t: KindTopology): string[] {
  return [`route replace ${t.plan.cidr} via ${t.vpn!.ip}`];
}

// The office's interface: the one holding the client address.
export function deviceWith(ipAddrOutput: string, ip: string): string | null {
  for (const line of ipAddrOutput.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+(\S+)\//.exec(line);
    if (m && m[2] === ip) return m[1]!;
  }
  return null;
}

// `previousOffice`: the office CIDR of an earlier `lab up`, whose node routes go.
export async function routeLab(t: KindTopology, previousOffice: string | null = null): Promise<void> {
  if (!t.vpn?.ip || !t.office)
    throw new NatscopeError('the vpn or office container is not running', { hint: 'sudo natscope lab up --lab kind' });
  await ipBatch(t.vpn.pid, vpnRoutes(t));
  await inNetnsOf(t.vpn.pid, ['iptables-restore'], { input: VPN_RULES });
  const addrs = await inNetnsOf(t.office.pid, ['ip', '-o', '-4', 'addr', 'show']);
  const device = deviceWith(addrs.stdout, t.plan.client) ?? 'eth0';
  await ipBatch(t.office.pid, officeRoutes(t, device));
  for (const n of t.nodes) {
    // an earlier lab's office route, if the office moved (already gone is fine)
    if (previousOffice && previousOffice !== t.plan.cidr)
      await inNetnsOf(n.pid, ['ip', 'route', 'del', previousOffice], { reject: false });
    await ipBatch(n.pid, nodeRoutes(t));
  }
}
