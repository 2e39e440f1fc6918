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
  first: Tuple;
  firstT: number;
  lastT: number;
  // hosts in the order they first reported the flow
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
    const connection = connectionOf(event);
    if (connection === null) return null;
    const { proto, a, b } = connection;
    if ((++this.adds & 1023) === 0) this.expire(event.t);

    // either tuple of the event may already name the flow
    let flow = this.continued(this.index.get(proto, a), event);
    if (!flow && b !== null) flow = this.continued(this.index.get(proto, b), event);
    if (!flow) flow = this.start(proto, a, event.t);
    // Both may, each naming another flow, when the event joins the tuples on
    // either side of a NAT and the other side's host was heard first: a
    // cluster node whose clock runs behind reports the translated connection
    // before the node that translated it. The two are one connection.
    const wasA = this.index.set(proto, a, flow.id);
    const wasB = b === null ? 0 : this.index.set(proto, b, flow.id);
    for (const was of [wasA, wasB]) {
      if (was === 0 || was === flow.id) continue;
      const other = this.continued(was, event);
      if (other) flow = this.merge(flow, other);
    }
    this.record(flow, connection.event);
    if (this.live.size > this.maxFlows) this.evictOldest();
    return flow;
  }

  // One flow of two: the older keeps its id and takes the other's events
  // (each flow's in the order they came, the older's first: stories sort by
  // time) and tuples. `x` is the flow the event's own original tuple named:
  // the connection as it reached the event's host, on the client's side of
  // the NAT that `y`'s tuples are the other side of; its first tuple stays.
  private merge(x: Flow, y: Flow): Flow {
    const [keep, gone] = x.id < y.id ? [x, y] : [y, x];
    this.live.delete(gone.id);
    for (const e of gone.events) this.record(keep, e);
    for (const r of gone.requests) this.record(keep, r);
    keep.dropped += gone.dropped;
    keep.firstT = Math.min(keep.firstT, gone.firstT);
    for (const host of gone.hosts) if (!keep.hosts.includes(host)) keep.hosts.push(host);
    for (const host of gone.destroyedOn)
      if (!keep.destroyedOn.includes(host)) keep.destroyedOn = append(keep.destroyedOn, host);
    keep.first = x.first;
    for (const e of [...keep.events, ...keep.requests]) {
      const c = connectionOf(e);
      if (c === null) continue;
      this.index.set(c.proto, c.a, keep.id);
      if (c.b !== null) this.index.set(c.proto, c.b, keep.id);
    }
    return keep;
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

// The protocol and the one or two tuples an event names its connection by (null: not about one).
interface Connection {
  proto: Proto;
  a: Tuple;
  b: Tuple | null;
  // the event, as one a flow keeps
  event: KernelEvent | RequestEvent;
}

function connectionOf(event: NatscopeEvent): Connection | null {
  switch (event.kind) {
    case 'nat':
    case 'ct-new':
    case 'ct-destroy':
      return { proto: event.proto, a: event.orig, b: event.reply, event };
    case 'rewrite':
      return { proto: event.proto, a: event.before, b: event.after, event };
    case 'drop':
      return { proto: event.packet.proto, a: event.packet, b: null, event };
    case 'request':
      if (event.src === null || event.sport === null) return null;
      return {
        proto: 'tcp',
        a: { src: event.src, sport: event.sport, dst: event.dst, dport: event.dport },
        b: null,
        event,
      };
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
