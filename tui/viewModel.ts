// The TUI's state as plain data: events in, pane rows out. No terminal, no
// timers, no I/O: the clock comes in as an argument, so a recording fed
// through `ingest` gives the same rows every time (test/tui/viewModel.test.ts).
// Every list is a Ring, so a session of any length holds bounded memory.

import type { KernelView } from './rulePanel.js';
import { FlowTracker, type Flow } from '../src/events/flows.js';
import { describeFlow, hostByIp, isVerdictDrop, serviceByAddress, type FlowStory } from '../src/events/story.js';
import { endpoint, inverse } from '../src/events/tuple.js';
import type {
  ConfigEvent,
  DropEvent,
  DropPacket,
  KubeProxyConfig,
  LabStatus,
  Manip,
  NatEvent,
  NatscopeEvent,
  StatusEvent,
  Tuple,
} from '../src/events/types.js';
import { palette, type Palette } from './colours.js';
import { explainDrop } from './explain.js';
import { Ring } from './ring.js';

export interface NatRow {
  type: 'nat';
  t: number;
  host: string;
  manip: Manip;
  // the connection as the client sent it (conntrack's original tuple)
  before: Tuple;
  // the packet after this host's NAT (the inverse of the reply tuple)
  after: Tuple;
  // "mysql" for a ClusterIP of the default namespace, "ns/name" otherwise
  service: string | null;
  accepted: boolean;
  search: string;
}

export interface DropRow {
  type: 'drop';
  t: number;
  // the same packet dropped again (a retransmission) adds to `count`
  lastT: number;
  count: number;
  host: string;
  reason: string;
  location: string;
  packet: DropPacket;
  srcName: string | null;
  dstName: string | null;
  explanation: string;
  key: string;
  search: string;
}

// A kube-proxy change, drawn across the panes so before/after is visible.
export interface MarkerRow {
  type: 'marker';
  t: number;
  text: string;
}

export type NatPaneRow = NatRow | MarkerRow;

export type SourceInfo =
  | { kind: 'replay'; file: string; speed: number }
  | { kind: 'live'; placement: 'auto' | 'on' | 'off' }
  | ClusterSource;

// A real cluster's nodes through kubectl (natscope cluster tui): filled in as its session starts.
export interface ClusterSource {
  kind: 'cluster';
  // the kubeconfig context, null for kubectl's current one
  context: string | null;
  nodes: string[];
  // how far the nodes' clocks agree ("clocks ±0.9 ms"), once read
  clocks: string | null;
}

export interface ModelLimits {
  rows?: number;
  flows?: number;
  saved?: number;
}

// events/s over the last second, from 100 ms buckets
class RateMeter {
  private readonly buckets = new Array<number>(10).fill(0);
  private slot = -1;

  add(nowMs: number, n = 1): void {
    this.roll(nowMs);
    this.buckets[this.slot % 10]! += n;
  }

  rate(nowMs: number): number {
    this.roll(nowMs);
    return this.buckets.reduce((a, b) => a + b, 0);
  }

  private roll(nowMs: number): void {
    const slot = Math.floor(nowMs / 100);
    if (this.slot < 0) this.slot = slot;
    for (let s = this.slot + 1; s <= slot && s <= this.slot + 10; s++) this.buckets[s % 10] = 0;
    if (slot > this.slot) this.slot = slot;
  }
}

interface FlowCache {
  version: number;
  story?: FlowStory;
  search?: string;
}

// how many of the newest drop rows a repeated drop may join
const RECENT_DROPS = 8;

export function shortService(name: string | null): string | null {
  return name?.startsWith('default/') ? name.slice('default/'.length) : name;
}

// What a cluster event's names field calls an address (a Service by address and port, else the address alone).
function clusterName(e: NatscopeEvent, ip: string, port: number): string | null {
  return shortService(e.names?.[endpoint(ip, port)] ?? e.names?.[ip] ?? null);
}

export function matches(search: string, terms: string[]): boolean {
  for (const term of terms) if (!search.includes(term)) return false;
  return true;
}

export function filterTerms(filter: string): string[] {
  return filter.toLowerCase().split(/\s+/).filter(Boolean);
}

export class ViewModel {
  readonly dnat: Ring<NatPaneRow>;
  readonly snat: Ring<NatPaneRow>;
  readonly drops: Ring<DropRow>;
  readonly tracker: FlowTracker;
  // flow ids in the order the flows started (the tracker keeps them by activity)
  readonly flowIds: Ring<number>;
  private readonly cache = new Map<number, FlowCache>();
  private lastFlowId = 0;

  lab: LabStatus | null = null;
  colourOf: Palette = palette(null);
  status: StatusEvent | null = null;
  kubeProxy: KubeProxyConfig | null = null;
  iptables: ConfigEvent['backend'] | null = null;
  t0: number | null = null;
  events = 0;
  lost = 0;
  // kernel events past the detail budget: counted in the kernel, not shown one by one
  counted = 0;
  // kernel events of the lab's own load: counted by the agent, not shown one by one
  loadCounted = 0;
  // verdict-free frees (socket teardown): counted, not listed
  routineDrops = 0;
  lastError: string | null = null;
  // what the source reports about itself (replay ended, live session starting)
  sourceState: 'starting' | 'running' | 'ended' | 'failed' = 'starting';
  sourceNote: string | null = null;
  readonly log = new Ring<string>(50);
  // events the display could not keep up with, or that arrived while paused past the queue
  skipped = 0;
  private readonly rate = new RateMeter();

  // what `s` saves: the newest events, plus the lab and kube-proxy state that
  // preceded them, so a saved file replays with names and the right header
  private readonly saved: Ring<NatscopeEvent>;
  private contextStatus: StatusEvent | null = null;
  private contextConfig: ConfigEvent | null = null;

  constructor(
    readonly source: SourceInfo,
    limits: ModelLimits = {},
  ) {
    const rows = limits.rows ?? 1000;
    this.dnat = new Ring(rows);
    this.snat = new Ring(rows);
    this.drops = new Ring(rows);
    const flows = limits.flows ?? 2000;
    this.tracker = new FlowTracker({ maxFlows: flows });
    this.flowIds = new Ring(flows);
    this.saved = new Ring(limits.saved ?? 50_000);
  }

  ingest(e: NatscopeEvent, nowMs: number): void {
    if (e.kind === 'reply') return; // answers to our own commands, not part of the story
    this.events++;
    this.rate.add(nowMs);
    this.t0 ??= e.t;
    this.keep(e);
    switch (e.kind) {
      case 'status':
        this.status = e;
        if (e.lab) {
          this.lab = e.lab;
          this.colourOf = palette(e.lab);
          this.cache.clear(); // names in stories may change
        }
        break;
      case 'config':
        this.config(e);
        break;
      case 'nat':
        (e.manip === 'DNAT' ? this.dnat : this.snat).push(this.natRow(e));
        break;
      case 'drop':
        this.drop(e);
        break;
      case 'lost':
        this.lost += e.count;
        break;
      case 'counted':
        if (e.cause === 'load') this.loadCounted += e.count;
        else this.counted += e.count;
        break;
      case 'error':
        this.lastError = `${e.source}: ${e.message}`;
        break;
      default:
        break;
    }
    const flow = this.tracker.add(e);
    if (flow && flow.id > this.lastFlowId) {
      this.lastFlowId = flow.id;
      const gone = this.flowIds.push(flow.id);
      if (gone !== undefined) this.cache.delete(gone);
    }
  }

  eventsPerSecond(nowMs: number): number {
    return this.rate.rate(nowMs);
  }

  // seconds since the first event, as every pane shows time
  seconds(t: number): number {
    return this.t0 === null ? 0 : (t - this.t0) / 1e9;
  }

  // Flow ids (oldest first) matching the filter, among flows still tracked.
  flowList(terms: string[]): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.flowIds.length; i++) {
      const id = this.flowIds.at(i)!;
      const flow = this.tracker.get(id);
      if (!flow) continue;
      if (terms.length && !matches(this.flowSearch(flow), terms)) continue;
      out.push(id);
    }
    return out;
  }

  flow(id: number): Flow | undefined {
    return this.tracker.get(id);
  }

  // What the tracer saw of a request's flow, for the rule panel's join (w).
  kernelView(): KernelView {
    return {
      probes: this.status?.probes ?? [],
      flowOf: (r) => this.tracker.ofRequest(r),
    };
  }

  // describeFlow, recomputed only when the flow gained events
  story(flow: Flow): FlowStory {
    const entry = this.entry(flow);
    entry.story ??= describeFlow(flow, this.lab);
    return entry.story;
  }

  savedEvents(): NatscopeEvent[] {
    const context = [this.contextStatus, this.contextConfig]
      .filter((e): e is StatusEvent | ConfigEvent => e !== null)
      .sort((a, b) => a.t - b.t);
    return [...context, ...this.saved.toArray()];
  }

  logLine(line: string): void {
    this.log.push(line);
  }

  private keep(e: NatscopeEvent): void {
    const gone = this.saved.push(e);
    if (gone?.kind === 'status' && gone.lab) this.contextStatus = gone;
    if (gone?.kind === 'config') this.contextConfig = gone;
  }

  private config(e: ConfigEvent): void {
    const prev = this.kubeProxy;
    this.kubeProxy = e.kubeProxy;
    this.iptables = e.backend;
    if (!prev && e.change === null) return; // the starting state, not a change
    const parts: string[] = [];
    if (!prev || prev.masqueradeAll !== e.kubeProxy.masqueradeAll)
      parts.push(`masqueradeAll ${e.kubeProxy.masqueradeAll ? 'on' : 'off'}`);
    if (!prev || prev.clusterCIDR !== e.kubeProxy.clusterCIDR)
      parts.push(`clusterCIDR ${e.kubeProxy.clusterCIDR ?? 'none'}`);
    const marker: MarkerRow = {
      type: 'marker',
      t: e.t,
      text: parts.length ? parts.join(', ') : (e.change ?? 'options re-synced'),
    };
    this.dnat.push(marker);
    this.snat.push(marker);
  }

  private natRow(e: NatEvent): NatRow {
    const after = inverse(e.reply);
    // a lab's own names, else the cluster's (the event's names field)
    const service = shortService(
      serviceByAddress(this.lab, e.orig.dst, e.orig.dport) ?? e.names?.[endpoint(e.orig.dst, e.orig.dport)] ?? null,
    );
    return {
      type: 'nat',
      t: e.t,
      host: e.host,
      manip: e.manip,
      before: e.orig,
      after,
      service,
      accepted: e.accepted,
      search: [
        e.host,
        e.manip,
        service ?? '',
        endpoint(e.orig.src, e.orig.sport),
        endpoint(e.orig.dst, e.orig.dport),
        endpoint(after.src, after.sport),
        endpoint(after.dst, after.dport),
      ]
        .join(' ')
        .toLowerCase(),
    };
  }

  private drop(e: DropEvent): void {
    if (!isVerdictDrop(e)) {
      this.routineDrops++;
      return;
    }
    const p = e.packet;
    const key = `${e.host}|${e.reason}|${p.proto} ${p.src}:${p.sport}>${p.dst}:${p.dport}|${p.flags.join(',')}`;
    // a retransmission of a packet dropped a moment ago adds to its row
    for (let i = this.drops.length - 1; i >= Math.max(0, this.drops.length - RECENT_DROPS); i--) {
      const row = this.drops.at(i)!;
      if (row.key === key) {
        row.count++;
        row.lastT = e.t;
        return;
      }
    }
    const srcName = hostByIp(this.lab, p.src) ?? clusterName(e, p.src, p.sport);
    const dstName = hostByIp(this.lab, p.dst) ?? clusterName(e, p.dst, p.dport);
    this.drops.push({
      type: 'drop',
      t: e.t,
      lastT: e.t,
      count: 1,
      host: e.host,
      reason: e.reason,
      location: e.location,
      packet: p,
      srcName,
      dstName,
      explanation: explainDrop(e),
      key,
      search: [e.host, e.reason, srcName ?? '', dstName ?? '', endpoint(p.src, p.sport), endpoint(p.dst, p.dport)]
        .join(' ')
        .toLowerCase(),
    });
  }

  private entry(flow: Flow): FlowCache {
    const version = flow.events.length + flow.dropped + flow.requests.length;
    let entry = this.cache.get(flow.id);
    if (!entry || entry.version !== version) {
      entry = { version };
      this.cache.set(flow.id, entry);
    }
    return entry;
  }

  private flowSearch(flow: Flow): string {
    const entry = this.entry(flow);
    if (entry.search === undefined) {
      const words = [
        ...flow.hosts,
        flow.proto,
        endpoint(flow.first.src, flow.first.sport),
        endpoint(flow.first.dst, flow.first.dport),
      ];
      for (const n of flow.nat) words.push(endpoint(n.to.ip, n.to.port), n.manip, hostByIp(this.lab, n.to.ip) ?? '');
      words.push(hostByIp(this.lab, flow.first.src) ?? '', hostByIp(this.lab, flow.first.dst) ?? '');
      const svc = serviceByAddress(this.lab, flow.first.dst, flow.first.dport);
      if (svc) words.push(svc);
      for (const r of flow.requests) words.push(r.target);
      for (const d of flow.drops) words.push(d.reason);
      entry.search = words.join(' ').toLowerCase();
    }
    return entry.search;
  }
}
