// The event stream: what the kernel (through bpftrace) and the lab report,
// one JSON object per line. Every frontend (TUI, walkthrough, --json, replay)
// consumes exactly these types; docs/events.md is their reference.
// Each event is declared once, as a schema: its TypeScript type is inferred
// from it, and the decoder (codec.ts) checks a line against that same schema,
// so what a frontend is promised is what a recording was checked to hold.

import { z } from 'zod';
import {
  amount,
  cidr,
  count,
  inode,
  ipv4,
  labAddress,
  nanoseconds,
  port,
  smallNumber,
  wants,
  wholeNumber,
} from './fields.js';

export const EVENT_VERSION = 1;

const PROTO = /^ip(?:\d|[1-9]\d|1\d\d|2[0-4]\d|25[0-5])$/;
export const ProtoSchema = z.custom<'tcp' | 'udp' | 'icmp' | `ip${number}`>(
  (v) => v === 'tcp' || v === 'udp' || v === 'icmp' || (typeof v === 'string' && PROTO.test(v)),
  { error: wants('tcp, udp, icmp or ipN (N 0-255)') },
);
export type Proto = z.infer<typeof ProtoSchema>;

// One direction of a connection as conntrack writes it: src:sport -> dst:dport.
export const TupleSchema = z.object({
  src: ipv4,
  sport: port,
  dst: ipv4,
  dport: port,
});
export type Tuple = z.infer<typeof TupleSchema>;

// A key of `names`: an IPv4 address, with a port for a Service's.
const clusterAddress = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/, { error: wants('ip or ip:port') });
// "namespace/name" (a pod, a Service) or a node's name, as the API server allows them.
const clusterName = z.string().regex(/^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, {
  error: wants('namespace/name or a node name'),
});

function eventBase<K extends string>(kind: K) {
  return z.object({
    v: z.literal(EVENT_VERSION),
    kind: z.literal(kind),
    // CLOCK_MONOTONIC nanoseconds of the machine that produced the event.
    t: nanoseconds,
    // Lab host name (office, vpn, node1, node2, a pod) or "?" when unknown.
    host: z.string(),
    // Network namespace inode; 0 when the event is not about one namespace.
    netns: inode,
    // `natscope cluster`: what this event's addresses are in the cluster, by
    // "ip:port" (a Service) or "ip" (a pod, a node): "default/mysql", "node-a".
    names: z.record(clusterAddress, clusterName).optional(),
  });
}

export const ManipSchema = z.enum(['DNAT', 'SNAT']);
export type Manip = z.infer<typeof ManipSchema>;

// A NAT binding created by nf_nat_setup_info: the conntrack entry's tuples
// after the binding, and the address the packet is rewritten to.
export const NatEventSchema = eventBase('nat').extend({
  manip: ManipSchema,
  proto: ProtoSchema,
  orig: TupleSchema,
  reply: TupleSchema,
  to: z.object({ ip: ipv4, port }),
  // nf_conn address on that host: joins nat and ct events of one entry
  ct: z.string(),
  accepted: z.boolean(),
});
export type NatEvent = z.infer<typeof NatEventSchema>;

function conntrackEvent<K extends 'ct-new' | 'ct-destroy'>(kind: K) {
  return eventBase(kind).extend({
    proto: ProtoSchema,
    orig: TupleSchema,
    reply: TupleSchema,
    // enum ip_conntrack_status bit names, e.g. ["CONFIRMED", "DST_NAT"]
    status: z.array(z.string()),
    ct: z.string(),
  });
}
export const CtNewEventSchema = conntrackEvent('ct-new');
export const CtDestroyEventSchema = conntrackEvent('ct-destroy');
export type CtNewEvent = z.infer<typeof CtNewEventSchema>;
export type CtDestroyEvent = z.infer<typeof CtDestroyEventSchema>;

export const DropPacketSchema = z.object({
  proto: ProtoSchema,
  src: ipv4,
  dst: ipv4,
  sport: port,
  dport: port,
  // TCP flag names, e.g. ["SYN", "ACK"]
  flags: z.array(z.string()),
});
export type DropPacket = z.infer<typeof DropPacketSchema>;

export const DropEventSchema = eventBase('drop').extend({
  // enum skb_drop_reason name without its prefix, e.g. "NETFILTER_DROP"
  reason: z.string(),
  reasonCode: smallNumber('a drop reason code (a whole number ≥ 0)'),
  // kernel function that freed the packet, e.g. "nft_do_chain"
  location: z.string(),
  packet: DropPacketSchema,
  ifindex: smallNumber('an interface index (a whole number ≥ 0)'),
});
export type DropEvent = z.infer<typeof DropEventSchema>;

export const RewriteEventSchema = eventBase('rewrite').extend({
  manip: ManipSchema,
  dir: z.enum(['orig', 'reply']),
  proto: ProtoSchema,
  before: TupleSchema,
  after: TupleSchema,
});
export type RewriteEvent = z.infer<typeof RewriteEventSchema>;

// Events the tracer could not deliver. `source` says who counted them:
// "sequence" = gaps in the probes' own per-CPU sequence numbers (exact),
// "bpftrace" = bpftrace's lost_events report (known to under-count).
export const LostEventSchema = eventBase('lost').extend({
  probe: z.string(),
  count,
  source: z.enum(['sequence', 'bpftrace']),
});
export type LostEvent = z.infer<typeof LostEventSchema>;

export const KERNEL_KINDS = ['nat', 'ct-new', 'ct-destroy', 'drop', 'rewrite'] as const;

// Kernel events left out of the stream on purpose, and counted instead, per
// namespace and `by`. Not lost: the number is exact. Why (`cause`):
//   detail  past the detail budget (`--detail`: events per CPU and second
//           kept whole) a probe only counts; their contents were never read
//   load    events of the lab's own load generator (`lab load`, the
//           walkthrough's price step): thousands of identical connections,
//           left out by the agent so that they do not drown the stream
export const CountedEventSchema = eventBase('counted').extend({
  of: z.enum(KERNEL_KINDS),
  // what the count is split by besides the namespace: nat and rewrite the
  // manip ("DNAT"/"SNAT"), drop the reason; null for ct-new and ct-destroy
  by: z.string().nullable(),
  count,
  // recordings made before causes were told apart counted only the detail budget's
  cause: z.enum(['detail', 'load']).default('detail'),
});
export type CountedEvent = z.infer<typeof CountedEventSchema>;

export const ErrorEventSchema = eventBase('error').extend({
  message: z.string(),
  source: z.string(),
});
export type ErrorEvent = z.infer<typeof ErrorEventSchema>;

export const RequestOutcomeSchema = z.enum(['answered', 'timeout', 'refused', 'error']);
export type RequestOutcome = z.infer<typeof RequestOutcomeSchema>;

// A request the lab made from the office host, and what came of it.
export const RequestEventSchema = eventBase('request').extend({
  target: z.string(),
  // "service" = through the ClusterIP, "pod" = straight to the pod IP
  via: z.enum(['service', 'pod']),
  src: ipv4.nullable(),
  sport: port.nullable(),
  dst: ipv4,
  dport: port,
  outcome: RequestOutcomeSchema,
  latencyMs: amount,
  // what the pod answered: its name, node, and the peer address it saw
  pod: z.string().nullable(),
  node: z.string().nullable(),
  peer: z.string().nullable(),
  detail: z.string().nullable(),
});
export type RequestEvent = z.infer<typeof RequestEventSchema>;

// kube-proxy's proxy mode: which rules it writes (iptables chains through
// iptables-restore, or its own nftables table through nft -f). Recordings
// made before nftables mode say "iptables".
export const PROXY_MODES = ['iptables', 'nftables'] as const;
export const ProxyModeSchema = z.enum(PROXY_MODES);
export type ProxyMode = z.infer<typeof ProxyModeSchema>;

// Which iptables wrote a node's rules: iptables-nft (its rules are nftables
// rules) or iptables-legacy (xtables). A lab's own, or a kind node's.
export const IPTABLES_BACKENDS = ['nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];

export const KubeProxyConfigSchema = z.object({
  mode: ProxyModeSchema,
  masqueradeAll: z.boolean(),
  clusterCIDR: cidr.nullable(),
});
export type KubeProxyConfig = z.infer<typeof KubeProxyConfigSchema>;

// kube-proxy's options after a change, and how long until the nodes' rules were re-synced.
export const KubeProxySyncSchema = z.object({ kubeProxy: KubeProxyConfigSchema, syncMs: amount });
export type KubeProxySync = z.infer<typeof KubeProxySyncSchema>;

// kube-proxy options as they are now on the lab's nodes (emitted at start and
// after every change, once the rules are re-synced).
export const ConfigEventSchema = eventBase('config').extend({
  kubeProxy: KubeProxyConfigSchema,
  backend: z.enum([...IPTABLES_BACKENDS, 'unknown']),
  change: z.string().nullable(),
});
export type ConfigEvent = z.infer<typeof ConfigEventSchema>;

// Lab addresses may be "" while the lab does not know them yet (a kind
// container still starting); kernel events always carry real ones.
export const LabHostSchema = z.object({
  netns: z.string(),
  ip: labAddress,
  inode: inode.optional(),
});
export type LabHost = z.infer<typeof LabHostSchema>;

export const LabPodSchema = z.object({
  name: z.string(),
  namespace: z.string(),
  node: z.string(),
  ip: labAddress,
  port,
  netns: z.string(),
});
export type LabPod = z.infer<typeof LabPodSchema>;

export const LabServiceSchema = z.object({
  namespace: z.string(),
  name: z.string(),
  portName: z.string(),
  protocol: z.enum(['TCP', 'UDP']),
  port,
  clusterIP: labAddress,
  endpoints: z.array(z.object({ ip: labAddress, port, node: z.string() })),
});
export type LabService = z.infer<typeof LabServiceSchema>;

// Which lab: network namespaces on one Linux host, or a kind cluster.
export const LAB_BACKENDS = ['netns', 'kind'] as const;
export type LabBackend = (typeof LAB_BACKENDS)[number];

export const LabStatusSchema = z.object({
  backend: z.enum(LAB_BACKENDS),
  prefix: z.string(),
  up: z.boolean(),
  hosts: z.record(z.string(), LabHostSchema),
  pods: z.array(LabPodSchema),
  services: z.array(LabServiceSchema),
  kubeProxy: KubeProxyConfigSchema,
  serviceCIDR: cidr,
  officeCIDR: cidr,
});
export type LabStatus = z.infer<typeof LabStatusSchema>;

// Where the agent runs and what it has running: lets a recording say how it
// was made, and a frontend name ClusterIPs and hosts.
export const StatusEventSchema = eventBase('status').extend({
  state: z.enum(['ready', 'tracing', 'stopped']),
  where: z.enum(['native', 'micro-vm', 'replay']),
  kernel: z.string().nullable(),
  bpftrace: z.string().nullable(),
  probes: z.array(z.string()),
  lab: LabStatusSchema.nullable(),
  message: z.string().nullable(),
});
export type StatusEvent = z.infer<typeof StatusEventSchema>;

// What `lab ping` found: whether the target's address answered ICMP echo.
export const PingResultSchema = z.object({
  target: z.string(),
  ip: ipv4,
  answered: z.boolean(),
  detail: z.string(),
});
export type PingResult = z.infer<typeof PingResultSchema>;

// What `lab load` measured: connections made to a target in `seconds`.
export const LoadResultSchema = z.object({
  target: z.string(),
  connections: count,
  failed: count,
  seconds: amount,
  rate: amount,
});
export type LoadResult = z.infer<typeof LoadResultSchema>;

// One line of `conntrack -L`, parsed (src/lab/conntrack.ts): the reply tuple
// is where conntrack expects the answer from.
export const ConntrackEntrySchema = z.object({
  proto: z.string(),
  state: z.string().nullable(),
  orig: TupleSchema,
  reply: TupleSchema,
  // e.g. UNREPLIED, ASSURED
  flags: z.array(z.string()),
  line: z.string(),
});
export type ConntrackEntry = z.infer<typeof ConntrackEntrySchema>;

// One request's way through each host's rules (natscope trace --rules,
// src/ruletrace/rulePath.ts builds it): crosses from the micro-VM's agent to
// the host as the ruleTrace command's reply, and is recorded as an
// observation, so it is declared here, with the other recorded results.
const ruleText = z.string().max(4096);

export const RuleStepSchema = z.object({
  table: ruleText,
  chain: ruleText,
  // the rule as nft prints it (escaped), or "policy" for a chain's policy
  rule: ruleText,
  handle: count.nullable(),
  verdict: ruleText,
  // what the rule did, in kube-proxy's terms (null: nothing worth saying)
  meaning: ruleText.nullable(),
});
export type RuleStep = z.infer<typeof RuleStepSchema>;

export const PacketPathSchema = z.object({
  host: ruleText,
  direction: z.enum(['request', 'reply']),
  traceId: ruleText,
  // "192.168.10.10:20001 → 10.96.207.61:3306 (syn)" as the host first saw it
  packet: ruleText,
  steps: z.array(RuleStepSchema),
  // DNAT to …, SNAT (masquerade), dropped: what the rules did to it
  outcome: z.array(ruleText),
  // more packets of the flow this way on this host (not explained: past the nat chains)
  morePackets: count,
});
export type PacketPath = z.infer<typeof PacketPathSchema>;

export const RulePathSchema = z.object({
  mode: KubeProxyConfigSchema.shape.mode,
  kubeProxy: KubeProxyConfigSchema,
  packets: z.array(PacketPathSchema),
  // one line per host and direction: the chains, the NAT, the reason
  summary: z.array(ruleText),
});
export type RulePath = z.infer<typeof RulePathSchema>;

// What each lab command an observation records showed, by `what`: the
// walkthrough reads these back from a recording as it read them live. (A
// client of a live agent can check a command's reply against the same.)
export const OBSERVATION_RESULTS = {
  // a node's nat table as iptables-save prints it
  rules: z.string(),
  // a host's routing table (ip route)
  routes: z.string(),
  conntrack: z.array(ConntrackEntrySchema),
  ping: PingResultSchema,
  // and how many kernel events the probes only counted during the run
  load: LoadResultSchema.extend({ tracedEventsSoFar: count }),
  // the vpn's counter of packets its INVALID rule dropped
  drops: z.object({ vpnDrops: count }),
  // a traced request's rule path (the ruleTrace command; its request event goes just before)
  rulePath: RulePathSchema,
};
export type ObservationResults = { [W in keyof typeof OBSERVATION_RESULTS]: z.infer<(typeof OBSERVATION_RESULTS)[W]> };
export type ObservationWhat = keyof ObservationResults;

// What a lab command showed (a node's rules, its conntrack table, a ping,
// a load run, the vpn's drop counter): recorded so that a replay can check
// the same claims a live walkthrough checked.
function observation<W extends ObservationWhat>(what: W) {
  return eventBase('observation').extend({
    what: z.literal(what),
    // the node or target it is about
    subject: z.string(),
    result: OBSERVATION_RESULTS[what],
  });
}
export const ObservationEventSchema = z.discriminatedUnion('what', [
  observation('rules'),
  observation('routes'),
  observation('conntrack'),
  observation('ping'),
  observation('load'),
  observation('drops'),
  observation('rulePath'),
]);
export type ObservationEvent = z.infer<typeof ObservationEventSchema>;
// What an observation says, without the common fields: one per `what`, its
// result typed by it (the agent builds observations from these).
export type ObservationBody = {
  [W in ObservationWhat]: { what: W; subject: string; result: ObservationResults[W] };
}[ObservationWhat];

// The answer to a command sent to an agent (see src/agent/protocol.ts).
export const ReplyEventSchema = eventBase('reply').extend({
  id: wholeNumber(0, Number.MAX_SAFE_INTEGER, 'a command id (a whole number ≥ 0)'),
  ok: z.boolean(),
  // what the command returned: read by the client that sent it, not by a replay
  result: z.unknown().optional(),
  error: z.string().optional(),
  hint: z.string().optional(),
  exitCode: wholeNumber(0, 255, 'an exit code (0-255)').optional(),
});
export type ReplyEvent = z.infer<typeof ReplyEventSchema>;

// Every kind's schema, by kind: the decoder picks one by the line's "kind".
export const EVENT_SCHEMAS = {
  nat: NatEventSchema,
  'ct-new': CtNewEventSchema,
  'ct-destroy': CtDestroyEventSchema,
  drop: DropEventSchema,
  rewrite: RewriteEventSchema,
  lost: LostEventSchema,
  counted: CountedEventSchema,
  error: ErrorEventSchema,
  request: RequestEventSchema,
  config: ConfigEventSchema,
  status: StatusEventSchema,
  observation: ObservationEventSchema,
  reply: ReplyEventSchema,
} as const;

export type KernelEvent = NatEvent | CtNewEvent | CtDestroyEvent | DropEvent | RewriteEvent;
export type NatscopeEvent = z.infer<(typeof EVENT_SCHEMAS)[keyof typeof EVENT_SCHEMAS]>;
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

// An observation event (the host is where the command ran).
export function observationEvent(body: ObservationBody, host: string): ObservationEvent {
  return { ...base('observation', host, 0), ...body };
}

// Same clock as bpftrace's nsecs (CLOCK_MONOTONIC), so lab and kernel events order together.
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}
