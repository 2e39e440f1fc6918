// The workshop VM's own network namespace as the kind lab depends on it:
// Docker's filter and raw rules around the lab's bridges, br_netfilter, and
// the blackhole route that keeps the Service CIDR inside the VM. Parsers of
// the tools' output (iptables-save, sysctl, ip -j route) and the few reads.
//
// Docker's layouts (docs.docker.com "Docker with iptables"; moby's
// integration/network/bridge/iptablesdoc):
//   before 28  FORWARD → DOCKER-USER, DOCKER-ISOLATION-STAGE-1, then per
//              bridge `-i br -o br -j ACCEPT` (and `-i br ! -o br`)
//   28 and on  FORWARD → DOCKER-USER, DOCKER-FORWARD; in DOCKER-FORWARD per
//              bridge `-i br -j ACCEPT`; and in the raw table, per container
//              address, `-A PREROUTING -d <ip>/32 ! -i <its bridge> -j DROP`
// With br_netfilter on, the lab's bridged traffic (office ↔ vpn, vpn ↔
// nodes) passes the VM's FORWARD chain: it needs those ACCEPT rules.

import { z } from 'zod';
import { cidrContains, parseCidr, parseIPv4 } from '../../events/tuple.js';
import type { NetworkInfo } from './docker.js';
import { run } from './tools.js';

export interface DockerFilter {
  forwardPolicy: string | null;
  // FORWARD's jumps, in order
  forwardJumps: string[];
  // bridges whose own traffic Docker accepts in FORWARD (or DOCKER-FORWARD)
  acceptedBridges: Set<string>;
}

export function parseDockerFilter(saveText: string): DockerFilter {
  let forwardPolicy: string | null = null;
  const forwardJumps: string[] = [];
  const acceptedBridges = new Set<string>();
  for (const line of saveText.split('\n')) {
    const policy = /^:FORWARD (\S+)/.exec(line);
    if (policy) forwardPolicy = policy[1]!;
    const jump = /^-A FORWARD -j (\S+)$/.exec(line);
    if (jump) forwardJumps.push(jump[1]!);
    const modern = /^-A DOCKER-FORWARD -i (\S+) -j ACCEPT$/.exec(line);
    if (modern) acceptedBridges.add(modern[1]!);
    const legacy = /^-A FORWARD -i (\S+) -o (\S+) -j ACCEPT$/.exec(line);
    if (legacy && legacy[1] === legacy[2]) acceptedBridges.add(legacy[1]!);
  }
  return { forwardPolicy, forwardJumps, acceptedBridges };
}

export interface DirectAccessDrop {
  ip: string;
  // the only interface the address may be reached from
  bridge: string;
}

// Docker ≥ 28's raw-table rules: -A PREROUTING -d <ip>/32 ! -i <bridge> -j DROP.
export function parseDirectAccessDrops(rawSaveText: string): DirectAccessDrop[] {
  const drops: DirectAccessDrop[] = [];
  for (const line of rawSaveText.split('\n')) {
    const m = /^-A PREROUTING -d (\d+\.\d+\.\d+\.\d+)\/32 ! -i (\S+) -j DROP$/.exec(line);
    if (m) drops.push({ ip: m[1]!, bridge: m[2]! });
  }
  return drops;
}

// The Linux bridge behind a Docker network: its own name option, else br-<id prefix>.
export function bridgeOf(network: NetworkInfo): string {
  if (network.options['com.docker.network.bridge.default_bridge'] === 'true') return 'docker0';
  return network.options['com.docker.network.bridge.name'] ?? `br-${network.id.slice(0, 12)}`;
}

export function dockerMajor(version: string): number {
  return Number(/^(\d+)\./.exec(version)?.[1] ?? 0);
}

export async function hostRules(table: 'filter' | 'raw'): Promise<string | null> {
  const r = await run('iptables-save', ['-t', table], { reject: false });
  return r.exitCode === 0 ? r.stdout : null;
}

// br_netfilter: null when the module is not loaded (the key does not exist).
export async function bridgeNfCallIptables(): Promise<boolean | null> {
  const r = await run('sysctl', ['-n', 'net.bridge.bridge-nf-call-iptables'], { reject: false });
  if (r.exitCode !== 0) return null;
  return r.stdout.trim() === '1';
}

// One route of `ip -j route`: a field that is not a string reads as absent.
const IpRouteSchema = z.object({
  dst: z.string().optional().catch(undefined),
  dev: z.string().optional().catch(undefined),
  gateway: z.string().optional().catch(undefined),
});
export type IpRoute = z.infer<typeof IpRouteSchema>;

// The routes in `ip -j route`'s parsed output; what is not a route is skipped.
export function routesIn(value: unknown): IpRoute[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((r: unknown) => {
    const route = IpRouteSchema.safeParse(r);
    return route.success ? [route.data] : [];
  });
}

// Output that is not JSON holds no routes.
function jsonRoutes(text: string): IpRoute[] {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() || '[]');
  } catch {
    return [];
  }
  return routesIn(value);
}

// The blackhole routes (ip -j route show type blackhole) that cover `cidr`.
export function blackholesCovering(json: string, cidr: string): string[] {
  const want = parseCidr(cidr);
  if (!want) return [];
  return jsonRoutes(json)
    .map((r) => r.dst ?? '')
    .filter((dst) => {
      const c = parseCidr(dst.includes('/') ? dst : `${dst}/32`);
      return c !== null && c.bits <= want.bits && cidrContains(c, want.text.split('/')[0]!);
    });
}

export interface RouteOut {
  // the address leaves through this device (and gateway), or is held here
  leaves: boolean;
  detail: string;
}

// `ip -j route get <ip>`: a device and gateway when it would leave; an
// error when a blackhole (EINVAL), unreachable or prohibit route holds it.
export async function routeOut(ip: string): Promise<RouteOut> {
  if (parseIPv4(ip) === null) return { leaves: false, detail: `not an address: ${ip}` };
  const r = await run('ip', ['-j', 'route', 'get', ip], { reject: false });
  if (r.exitCode !== 0) return { leaves: false, detail: r.stderr.trim().split('\n').pop() ?? `exit ${r.exitCode}` };
  const route = jsonRoutes(r.stdout)[0];
  const dev = route?.dev ?? '?';
  const via = route?.gateway === undefined ? '' : ` via ${route.gateway}`;
  return { leaves: true, detail: `${ip}${via} dev ${dev}` };
}

export async function blackholeRoutes(): Promise<string> {
  return (await run('ip', ['-j', 'route', 'show', 'type', 'blackhole'], { reject: false })).stdout;
}
