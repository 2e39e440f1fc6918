// Names and addresses of the kind lab, derived from the lab prefix so that
// several labs (or a user's own kind clusters) can share one Docker engine.
// Services, pods and ports are the netns lab's (netns/topology.ts), so both
// labs answer to the same targets and tell the same story.

import { NatscopeError } from '../../errors.js';
import { parseCidr, parseIPv4, type Cidr } from '../../events/tuple.js';
import { NETWORKS } from '../netns/topology.js';
import { checkPrefix } from '../prefix.js';

// Docker label on every container and network natscope creates: its value is
// the cluster name. `lab down` removes only what carries it.
export const OWNER_LABEL = 'io.natscope.lab';

// Kubernetes node label set through the kind config: which worker plays
// node1 (where the VPN's Service route points) and which plays node2.
export const NODE_ROLE_LABEL = 'natscope.io/lab-node';

// Label on the lab's own Kubernetes objects (pods, Services).
export const PART_OF_LABEL = 'app.kubernetes.io/part-of=natscope';

// kind's defaults (pkg/apis/config/v1alpha4/default.go), written into the
// kind config so that they are visible and cannot drift.
export const POD_SUBNET = NETWORKS.pods;
export const SERVICE_SUBNET = NETWORKS.services;

// The incident's office network. Docker must not NAT it (see docs/kind-lab.md).
export const DEFAULT_OFFICE_CIDR = NETWORKS.office;

export interface KindNames {
  prefix: string;
  cluster: string;
  controlPlane: string;
  office: string;
  vpn: string;
  officeNetwork: string;
}

export function kindNames(prefix: string): KindNames {
  checkPrefix(prefix);
  // kind names node containers <cluster>-control-plane, <cluster>-worker, …
  const cluster = prefix.replace(/-+$/, '') || 'natscope';
  return {
    prefix,
    cluster,
    controlPlane: `${cluster}-control-plane`,
    office: `${cluster}-office`,
    vpn: `${cluster}-vpn`,
    officeNetwork: `${cluster}-office`,
  };
}

export interface OfficePlan {
  cidr: string;
  // the VPN endpoint's office-side address (the tunnel end), first host
  vpn: string;
  // the office client, as in the incident
  client: string;
  // extra client addresses for the load generator (no 4-tuple reuse)
  loadSources: string[];
  // Docker's own address on the office bridge: the last host, out of the way
  gateway: string;
  // where Docker may place containers someone else attaches: the upper half
  ipRange: string;
}

function ipText(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

// Addresses at fixed offsets in the office CIDR: .1 vpn, .10 client,
// .20-.23 load sources, like the netns lab in 192.168.10.0/24.
export function officePlan(cidrText: string): OfficePlan {
  const cidr = parseCidr(cidrText);
  if (!cidr || cidr.bits < 16 || cidr.bits > 24) {
    throw new NatscopeError(`invalid office CIDR "${cidrText}"`, {
      hint: 'NATSCOPE_KIND_OFFICE_CIDR takes an IPv4 network from /16 to /24 with the host bits zero, e.g. 192.168.10.0/24',
      exitCode: 2,
    });
  }
  const size = 2 ** (32 - cidr.bits);
  const half = cidr.bits + 1;
  return {
    cidr: cidr.text,
    vpn: ipText(cidr.base + 1),
    client: ipText(cidr.base + 10),
    loadSources: [20, 21, 22, 23].map((o) => ipText(cidr.base + o)),
    gateway: ipText(cidr.base + size - 2),
    ipRange: `${ipText(cidr.base + size / 2)}/${half}`,
  };
}

export function officeCidrFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.NATSCOPE_KIND_OFFICE_CIDR?.trim() || DEFAULT_OFFICE_CIDR;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const bits = Math.min(a.bits, b.bits);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a.base & mask) >>> 0 === (b.base & mask) >>> 0;
}

// "10.1.2.3/16" (an interface address) → the network it is on; read as
// strictly as every other address (no leading zeros, a prefix length 0-32).
export function networkOf(addressWithBits: string): Cidr | null {
  const [ip, bitsText, extra] = addressWithBits.split('/');
  const addr = ip ? parseIPv4(ip) : null;
  if (addr === null || bitsText === undefined || extra !== undefined || !/^(0|[1-9]\d?)$/.test(bitsText)) return null;
  const bits = Number(bitsText);
  if (bits > 32) return null;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { base: (addr & mask) >>> 0, bits, text: `${ipText((addr & mask) >>> 0)}/${bits}` };
}
