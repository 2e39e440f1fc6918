// Flow correlation: groups one connection's events across hosts.
// Each host's conntrack sees the connection under its own tuples: node1
// sees client:port → ClusterIP:3306 and, after its DNAT, client:port →
// pod:3306, which is exactly what node2's conntrack sees; the vpn drops the
// reply pod:3306 → client:port. So every tuple an event carries (both
// directions of its original and reply tuples) is indexed to the flow, and
// the next event that shares any of them joins it.
// Memory is bounded: at most `maxFlows` flows, flows idle for `idleNs`
// expire, and a flow keeps at most `maxEventsPerFlow` events.

import { inverse, tupleKey } from './tuple.js';
import type { DropEvent, KernelEvent, NatEvent, NatscopeEvent, Proto, RequestEvent, Tuple } from './types.js';

export interface Flow {
  id: number;
  proto: Proto;
  // the first original tuple seen: as the client sent it when the first event is upstream
  first: Tuple;
  firstT: number;
  lastT: number;
  // hosts in the order they first reported the flow
  hosts: string[];
  events: KernelEvent[];
  dropped: number; // events beyond maxEventsPerFlow, counted not kept
  nat: NatEvent[];
  drops: DropEvent[];
  requests: RequestEvent[];
  // hosts whose conntrack entry for it is gone
  destroyedOn: Set<string>;
  keys: string[];
}

export interface FlowTrackerOptions {
  maxFlows?: number;
  idleNs?: number;
  maxEventsPerFlow?: number;
}

export class FlowTracker {
  private readonly byKey = new Map<string, Flow>();
  private readonly live = new Map<number, Flow>();
  private nextId = 1;
  private adds = 0;
  private readonly maxFlows: number;
  private readonly idleNs: number;
  private readonly maxEvents: number;

  constructor(options: FlowTrackerOptions = {}) {
    this.maxFlows = options.maxFlows ?? 5000;
    this.idleNs = options.idleNs ?? 300e9;
    this.maxEvents = options.maxEventsPerFlow ?? 64;
  }

  get size(): number {
    return this.live.size;
  }

  flows(): Flow[] {
    return [...this.live.values()];
  }

  get(id: number): Flow | undefined {
    return this.live.get(id);
  }

  // Adds an event; returns the flow it joined (or started), or null for
  // events that are not about one connection.
  add(event: NatscopeEvent): Flow | null {
    const tuples = tuplesOf(event);
    if (!tuples) return null;
    const [proto, list] = tuples;
    if ((++this.adds & 1023) === 0) this.expire(event.t);

    const keys: string[] = [];
    for (const t of list) {
      keys.push(tupleKey(proto, t), tupleKey(proto, inverse(t)));
    }
    let flow: Flow | undefined;
    for (const key of keys) {
      const found = this.byKey.get(key);
      if (found && this.isCurrent(found, event)) {
        flow = found;
        break;
      }
    }
    if (!flow) flow = this.start(proto, list[0]!, event.t);
    for (const key of keys) {
      const owner = this.byKey.get(key);
      if (owner !== flow) {
        this.byKey.set(key, flow);
        flow.keys.push(key);
      }
    }
    this.record(flow, event);
    // keep most recently active flows last, so eviction takes the idlest
    this.live.delete(flow.id);
    this.live.set(flow.id, flow);
    if (this.live.size > this.maxFlows) this.evict(this.live.values().next().value!);
    return flow;
  }

  // A reused tuple (same client port later) must start a new flow.
  private isCurrent(flow: Flow, event: NatscopeEvent): boolean {
    if (event.t - flow.lastT > this.idleNs) return false;
    if (event.kind === 'ct-new' && flow.destroyedOn.has(event.host)) return false;
    return true;
  }

  private start(proto: Proto, first: Tuple, t: number): Flow {
    const flow: Flow = {
      id: this.nextId++,
      proto,
      first,
      firstT: t,
      lastT: t,
      hosts: [],
      events: [],
      dropped: 0,
      nat: [],
      drops: [],
      requests: [],
      destroyedOn: new Set(),
      keys: [],
    };
    this.live.set(flow.id, flow);
    return flow;
  }

  private record(flow: Flow, event: NatscopeEvent): void {
    if (event.t > flow.lastT) flow.lastT = event.t;
    if (event.kind === 'request') {
      flow.requests.push(event);
      return;
    }
    const e = event as KernelEvent;
    if (!flow.hosts.includes(e.host)) flow.hosts.push(e.host);
    if (flow.events.length < this.maxEvents) flow.events.push(e);
    else flow.dropped++;
    if (e.kind === 'nat') flow.nat.push(e);
    else if (e.kind === 'drop') flow.drops.push(e);
    else if (e.kind === 'ct-destroy') flow.destroyedOn.add(e.host);
  }

  private expire(now: number): void {
    for (const flow of this.live.values()) {
      if (now - flow.lastT <= this.idleNs) break; // ordered by last activity
      this.evict(flow);
    }
  }

  private evict(flow: Flow): void {
    this.live.delete(flow.id);
    for (const key of flow.keys) if (this.byKey.get(key) === flow) this.byKey.delete(key);
  }
}

function tuplesOf(event: NatscopeEvent): [Proto, Tuple[]] | null {
  switch (event.kind) {
    case 'nat':
    case 'ct-new':
    case 'ct-destroy':
      return [event.proto, [event.orig, event.reply]];
    case 'rewrite':
      return [event.proto, [event.before, event.after]];
    case 'drop': {
      const p = event.packet;
      return [p.proto, [{ src: p.src, sport: p.sport, dst: p.dst, dport: p.dport }]];
    }
    case 'request':
      if (event.src === null || event.sport === null) return null;
      return ['tcp', [{ src: event.src, sport: event.sport, dst: event.dst, dport: event.dport }]];
    default:
      return null;
  }
}
