// Flow correlation: groups one connection's events across hosts.
// Each host's conntrack sees the connection under its own tuples: node1
// sees client:port → ClusterIP:3306 and, after its DNAT, client:port →
// pod:3306, which is exactly what node2's conntrack sees; the vpn drops the
// reply pod:3306 → client:port. So every tuple an event carries (both
// directions of its original and reply tuples) is indexed to the flow, and
// the next event that shares any of them joins it.
// Memory is bounded: at most `maxFlows` live flows (past that the oldest
// goes, active or not), flows idle for `idleNs` expire, and a flow keeps at
// most `maxEventsPerFlow` events.

import { ConnectionIndex } from './connectionIndex.js';
import type { DropEvent, KernelEvent, NatEvent, NatscopeEvent, Proto, RequestEvent, Tuple } from './types.js';

export interface Flow {
  id: number;
  proto: Proto;
  // the first original tuple seen: as the client sent it when the first event is upstream
  // (after a merge, the client's side of the NAT that joined the two)
  first: Tuple;
  firstT: number;
  lastT: number;
  // hosts in the order they first reported the flow; events, nat, drops and
  // requests in the order they came. After a merge (nodes whose clocks
  // disagree, `merge`) the kept flow's come first, then the other's: sort by
  // time where order matters.
  hosts: string[];
  events: readonly KernelEvent[];
  dropped: number; // events beyond maxEventsPerFlow, counted not kept
  // Most flows have no NAT, drop, request or destroyed entry: these start
  // as one shared empty array and get their own with their first item.
  nat: readonly NatEvent[];
  drops: readonly DropEvent[];
  requests: readonly RequestEvent[];
  // hosts whose conntrack entry for it is gone (a few at most: an array is cheaper than a Set)
  destroyedOn: readonly string[];
}

export interface FlowTrackerOptions {
  maxFlows?: number;
  idleNs?: number;
  maxEventsPerFlow?: number;
}

const NONE: readonly never[] = Object.freeze([]);

export class FlowTracker {
  // live flows by id, in id order (ids only grow)
  private readonly live = new Map<number, Flow>();
  private readonly index = new ConnectionIndex((id) => this.live.has(id));
  private nextId = 1;
  // no flow with a smaller id is live: the oldest is found by counting up,
  // not with live.values().next(), which after many deletes at a Map's
  // front walks every deleted entry until the table is rebuilt
  private oldestId = 1;
  private adds = 0;
  private readonly maxFlows: number;
  private readonly idleNs: number;
  private readonly maxEvents: number;

  constructor(options: FlowTrackerOptions = {}) {
    this.maxFlows = options.maxFlows ?? 2000;
    this.idleNs = options.idleNs ?? 300e9;
    this.maxEvents = options.maxEventsPerFlow ?? 32;
    if (!(Number.isInteger(this.maxFlows) && this.maxFlows >= 1))
      throw new RangeError(`maxFlows must be a whole number ≥ 1, got ${this.maxFlows}`);
  }

  get size(): number {
    return this.live.size;
  }

  // Live flows, oldest first.
  flows(): Flow[] {
    return [...this.live.values()];
  }

  get(id: number): Flow | undefined {
    return this.live.get(id);
  }

  // The live flow a lab request made (its client address and port, and
  // where it went), if its events are still tracked.
  ofRequest(r: { src: string | null; sport: number | null; dst: string }): Flow | undefined {
    for (const flow of this.live.values())
      if (flow.requests.some((q) => q.src === r.src && q.sport === r.sport && q.dst === r.dst)) return flow;
    return undefined;
  }

  // Adds an event; returns the flow it joined (or started), or null for
  // events that are not about one connection.
  add(event: NatscopeEvent): Flow | null {
    return withConnection(event, this.addConnection);
  }

  // (a property: `add` hands it over without binding a function per event)
  private readonly addConnection = (
    proto: Proto,
    a: Tuple,
    b: Tuple | null,
    event: KernelEvent | RequestEvent,
  ): Flow => {
    if ((++this.adds & 1023) === 0) this.expire(event.t);

    // either tuple of the event may already name the flow
    let flow = this.continued(this.index.get(proto, a), event);
    if (!flow && b !== null) flow = this.continued(this.index.get(proto, b), event);
    if (!flow) flow = this.start(proto, a, event.t);
    this.index.set(proto, a, flow.id);
    // The reply tuple may name another flow, when the event joins the two
    // sides of a NAT and the far side's host was heard first: a cluster node
    // whose clock runs behind reports the translated connection before the
    // node that translated it. (Its own tuple cannot: had that named a flow
    // the event continues, `flow` would be that one.)
    const other = b === null ? 0 : this.index.set(proto, b, flow.id);
    if (other !== 0 && other !== flow.id) {
      const far = this.continued(other, event);
      if (far && isFarSide(far, event)) {
        flow = this.merge(flow, far);
        this.index.set(proto, a, flow.id);
        this.index.set(proto, b!, flow.id);
      }
    }
    this.record(flow, event);
    if (this.live.size > this.maxFlows) this.evictOldest();
    return flow;
  };

  // One flow of two: the older keeps its id and takes the other's events
  // (each flow's in the order they came, the older's first: stories sort by
  // time) and tuples. `near` is the flow the event's own original tuple
  // named: the connection as it reached the event's host, on the client's
  // side of the NAT that `far`'s tuples are the other side of; its first
  // tuple is the flow's.
  private merge(near: Flow, far: Flow): Flow {
    const [keep, gone] = near.id < far.id ? [near, far] : [far, near];
    this.live.delete(gone.id);
    for (const e of gone.events) this.record(keep, e);
    for (const r of gone.requests) this.record(keep, r);
    // the tuples of the events it kept now name the flow that stays (those past
    // maxEventsPerFlow were only counted, and no longer find it)
    for (const e of [...gone.events, ...gone.requests]) withConnection(e, this.pointAt(keep));
    keep.dropped += gone.dropped;
    keep.firstT = Math.min(keep.firstT, gone.firstT);
    keep.lastT = Math.max(keep.lastT, gone.lastT);
    // hosts and destroyed entries of events it only counted still count
    for (const host of gone.hosts) if (!keep.hosts.includes(host)) keep.hosts.push(host);
    for (const host of gone.destroyedOn)
      if (!keep.destroyedOn.includes(host)) keep.destroyedOn = append(keep.destroyedOn, host);
    keep.first = near.first;
    return keep;
  }

  private pointAt(flow: Flow): (proto: Proto, a: Tuple, b: Tuple | null) => void {
    return (proto, a, b) => {
      this.index.set(proto, a, flow.id);
      if (b !== null) this.index.set(proto, b, flow.id);
    };
  }

  // Flow `id`, if the event continues it: a reused tuple (the same client
  // port later, or after the host's entry was destroyed) starts a new flow.
  private continued(id: number, event: NatscopeEvent): Flow | undefined {
    const flow = id === 0 ? undefined : this.get(id);
    if (flow === undefined) return undefined;
    if (event.t - flow.lastT > this.idleNs) return undefined;
    if (event.kind === 'ct-new' && flow.destroyedOn.includes(event.host)) return undefined;
    return flow;
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
      nat: NONE,
      drops: NONE,
      requests: NONE,
      destroyedOn: NONE,
    };
    this.live.set(flow.id, flow);
    return flow;
  }

  private record(flow: Flow, e: KernelEvent | RequestEvent): void {
    if (e.t > flow.lastT) flow.lastT = e.t;
    if (e.kind === 'request') {
      if (flow.requests.length < this.maxEvents) flow.requests = append(flow.requests, e);
      return;
    }
    if (!flow.hosts.includes(e.host)) flow.hosts.push(e.host);
    if (e.kind === 'ct-destroy' && !flow.destroyedOn.includes(e.host))
      flow.destroyedOn = append(flow.destroyedOn, e.host);
    if (flow.events.length >= this.maxEvents) {
      flow.dropped++; // a flow keeps its first events only: memory stays bounded
      return;
    }
    flow.events = append(flow.events, e);
    if (e.kind === 'nat') flow.nat = append(flow.nat, e);
    else if (e.kind === 'drop') flow.drops = append(flow.drops, e);
  }

  private expire(now: number): void {
    for (const flow of this.live.values()) if (now - flow.lastT > this.idleNs) this.live.delete(flow.id);
  }

  private evictOldest(): void {
    while (!this.live.has(this.oldestId)) this.oldestId++;
    this.live.delete(this.oldestId);
  }
}

// How far apart two nodes' clocks may put the two sides of one connection.
export const MERGE_WINDOW_NS = 10e9;

// Whether flow `far` can be the translated side of the connection `event`
// (a NAT host's) is the client's side of: it holds no NAT of its own, the
// event's host never reported it, and it began within MERGE_WINDOW_NS. A
// flow that fails these is an earlier connection on the same tuples (a
// reused client port): the same host reported it, or a while ago.
function isFarSide(far: Flow, event: KernelEvent | RequestEvent): boolean {
  return far.nat.length === 0 && !far.hosts.includes(event.host) && Math.abs(event.t - far.firstT) <= MERGE_WINDOW_NS;
}

// `f` of the protocol and the one or two tuples an event names its
// connection by (and the event, as a flow keeps it); null for an event that
// is not about one connection. One switch for adding and re-pointing, and no
// object per event on the hot path.
function withConnection<T>(
  event: NatscopeEvent,
  f: (proto: Proto, a: Tuple, b: Tuple | null, event: KernelEvent | RequestEvent) => T,
): T | null {
  switch (event.kind) {
    case 'nat':
    case 'ct-new':
    case 'ct-destroy':
      return f(event.proto, event.orig, event.reply, event);
    case 'rewrite':
      return f(event.proto, event.before, event.after, event);
    case 'drop':
      return f(event.packet.proto, event.packet, null, event);
    case 'request':
      if (event.src === null || event.sport === null) return null;
      return f('tcp', { src: event.src, sport: event.sport, dst: event.dst, dport: event.dport }, null, event);
    default:
      return null;
  }
}

// Pushes onto a flow's own array, first replacing the shared empty one.
function append<T>(list: readonly T[], item: T): readonly T[] {
  const own = (list === NONE ? [] : list) as T[];
  own.push(item);
  return own;
}
