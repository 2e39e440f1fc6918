// The event stream: what the kernel (through bpftrace) and the lab report,
// one JSON object per line. Every frontend (TUI, walkthrough, --json, replay)
// consumes exactly these types; docs/events.md is their reference.

export const EVENT_VERSION = 1;

export type Proto = 'tcp' | 'udp' | 'icmp' | `ip${number}`;

// One direction of a connection as conntrack writes it: src:sport -> dst:dport.
export interface Tuple {
  src: string;
  sport: number;
  dst: string;
  dport: number;
}

interface EventBase<K extends string> {
  v: typeof EVENT_VERSION;
  kind: K;
  // CLOCK_MONOTONIC nanoseconds of the machine that produced the event.
  t: number;
  // Lab host name (office, vpn, node1, node2, a pod) or "?" when unknown.
  host: string;
  // Network namespace inode; 0 when the event is not about one namespace.
  netns: number;
}

export type Manip = 'DNAT' | 'SNAT';

// A NAT binding created by nf_nat_setup_info: the conntrack entry's tuples
// after the binding, and the address the packet is rewritten to.
export interface NatEvent extends EventBase<'nat'> {
  manip: Manip;
  proto: Proto;
  orig: Tuple;
  reply: Tuple;
  to: { ip: string; port: number };
  // nf_conn address on that host: joins nat and ct events of one entry
  ct: string;
  accepted: boolean;
}

export interface ConntrackEvent<K extends 'ct-new' | 'ct-destroy'> extends EventBase<K> {
  proto: Proto;
  orig: Tuple;
  reply: Tuple;
  // enum ip_conntrack_status bit names, e.g. ["CONFIRMED", "DST_NAT"]
  status: string[];
  ct: string;
}
export type CtNewEvent = ConntrackEvent<'ct-new'>;
export type CtDestroyEvent = ConntrackEvent<'ct-destroy'>;

export interface DropPacket {
  proto: Proto;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  // TCP flag names, e.g. ["SYN", "ACK"]
  flags: string[];
}

export interface DropEvent extends EventBase<'drop'> {
  // enum skb_drop_reason name without its prefix, e.g. "NETFILTER_DROP"
  reason: string;
  reasonCode: number;
  // kernel function that freed the packet, e.g. "nft_do_chain"
  location: string;
  packet: DropPacket;
  ifindex: number;
}

export interface RewriteEvent extends EventBase<'rewrite'> {
  manip: Manip;
  dir: 'orig' | 'reply';
  proto: Proto;
  before: Tuple;
  after: Tuple;
}

// Events the tracer could not deliver. `source` says who counted them:
// "sequence" = gaps in the probes' own per-CPU sequence numbers (exact),
// "bpftrace" = bpftrace's lost_events report (known to under-count).
export interface LostEvent extends EventBase<'lost'> {
  probe: string;
  count: number;
  source: 'sequence' | 'bpftrace';
}

// Kernel events the probes counted instead of reporting each: past the
// detail budget (`--detail`: events per CPU and second kept whole), a probe
// only counts, per namespace and `by`. Not lost: the number is exact, the
// events' contents were never read.
export interface CountedEvent extends EventBase<'counted'> {
  of: KernelEvent['kind'];
  // what the count is split by besides the namespace: nat and rewrite the
  // manip ("DNAT"/"SNAT"), drop the reason; null for ct-new and ct-destroy
  by: string | null;
  count: number;
}

export interface ErrorEvent extends EventBase<'error'> {
  message: string;
  source: string;
}

export type RequestOutcome = 'answered' | 'timeout' | 'refused' | 'error';

// A request the lab made from the office host, and what came of it.
export interface RequestEvent extends EventBase<'request'> {
  target: string;
  // "service" = through the ClusterIP, "pod" = straight to the pod IP
  via: 'service' | 'pod';
  src: string | null;
  sport: number | null;
  dst: string;
  dport: number;
  outcome: RequestOutcome;
  latencyMs: number;
  // what the pod answered: its name, node, and the peer address it saw
  pod: string | null;
  node: string | null;
  peer: string | null;
  detail: string | null;
}

export interface KubeProxyConfig {
  mode: 'iptables';
  masqueradeAll: boolean;
  clusterCIDR: string | null;
}

// kube-proxy options as they are now on the lab's nodes (emitted at start and
// after every change, once the rules are re-synced).
export interface ConfigEvent extends EventBase<'config'> {
  kubeProxy: KubeProxyConfig;
  backend: 'nft' | 'legacy' | 'unknown';
  change: string | null;
}

export interface LabHost {
  netns: string;
  ip: string;
  inode?: number;
}
export interface LabPod {
  name: string;
  namespace: string;
  node: string;
  ip: string;
  port: number;
  netns: string;
}
export interface LabService {
  namespace: string;
  name: string;
  portName: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  clusterIP: string;
  endpoints: { ip: string; port: number; node: string }[];
}
// Which lab: network namespaces on one Linux host, or a kind cluster.
export const LAB_BACKENDS = ['netns', 'kind'] as const;
export type LabBackend = (typeof LAB_BACKENDS)[number];

export interface LabStatus {
  backend: LabBackend;
  prefix: string;
  up: boolean;
  hosts: Record<string, LabHost>;
  pods: LabPod[];
  services: LabService[];
  kubeProxy: KubeProxyConfig;
  serviceCIDR: string;
  officeCIDR: string;
}

// Where the agent runs and what it has running: lets a recording say how it
// was made, and a frontend name ClusterIPs and hosts.
export interface StatusEvent extends EventBase<'status'> {
  state: 'ready' | 'tracing' | 'stopped';
  where: 'native' | 'micro-vm' | 'replay';
  kernel: string | null;
  bpftrace: string | null;
  probes: string[];
  lab: LabStatus | null;
  message: string | null;
}

// What a lab command showed (a node's rules, its conntrack table, a ping,
// a load run, the vpn's drop counter): recorded so that a replay can check
// the same claims a live walkthrough checked.
export interface ObservationEvent extends EventBase<'observation'> {
  what: 'rules' | 'routes' | 'conntrack' | 'ping' | 'load' | 'drops';
  // the node or target it is about
  subject: string;
  result: unknown;
}

// The answer to a command sent to an agent (see src/agent/protocol.ts).
export interface ReplyEvent extends EventBase<'reply'> {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  hint?: string;
  exitCode?: number;
}

export type KernelEvent = NatEvent | CtNewEvent | CtDestroyEvent | DropEvent | RewriteEvent;
export type NatscopeEvent =
  | KernelEvent
  | LostEvent
  | CountedEvent
  | ErrorEvent
  | RequestEvent
  | ConfigEvent
  | StatusEvent
  | ObservationEvent
  | ReplyEvent;
export type EventKind = NatscopeEvent['kind'];

export const EVENT_KINDS: readonly EventKind[] = [
  'nat',
  'ct-new',
  'ct-destroy',
  'drop',
  'rewrite',
  'lost',
  'counted',
  'error',
  'request',
  'config',
  'status',
  'observation',
  'reply',
];

export function isKernelEvent(e: NatscopeEvent): e is KernelEvent {
  return (
    e.kind === 'nat' || e.kind === 'ct-new' || e.kind === 'ct-destroy' || e.kind === 'drop' || e.kind === 'rewrite'
  );
}

// Fields every event carries; builders spread this and add their own.
export function base<K extends EventKind>(kind: K, host: string, netns: number, t = monotonicNs()) {
  return { v: EVENT_VERSION, kind, t, host, netns } as const;
}

// Same clock as bpftrace's nsecs (CLOCK_MONOTONIC), so lab and kernel events order together.
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}
