// Flow correlation: groups one connection's events across hosts.
// Each host's conntrack sees the connection under its own tuples: node1
// sees client:port → ClusterIP:3306 and, after its DNAT, client:port →
// pod:3306, which is exactly what node2's conntrack sees; the vpn drops the
// reply pod:3306 → client:port. So every tuple an event carries (both
// directions of its original and reply tuples) is indexed to the flow, and
// the next event that shares any of them joins it.
// Memory is bounded: at most `maxFlows` flows (the oldest go first), flows
// idle for `idleNs` expire, and a flow keeps at most `maxEventsPerFlow` events.

import { ipv4Number } from './tuple.js';
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
  // hosts whose conntrack entry for it is gone (a few at most: an array is cheaper than a Set)
  destroyedOn: string[];
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
  // no flow with a smaller id is live: ids only grow, so the oldest is found by counting up
  private oldestId = 1;
  private adds = 0;
  private readonly maxFlows: number;
  private readonly idleNs: number;
  private readonly maxEvents: number;

  constructor(options: FlowTrackerOptions = {}) {
    this.maxFlows = options.maxFlows ?? 2000;
    this.idleNs = options.idleNs ?? 300e9;
    this.maxEvents = options.maxEventsPerFlow ?? 32;
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
    let proto: Proto;
    let a: Tuple;
    let b: Tuple | null = null;
    switch (event.kind) {
      case 'nat':
      case 'ct-new':
      case 'ct-destroy':
        proto = event.proto;
        a = event.orig;
        b = event.reply;
        break;
      case 'rewrite':
        proto = event.proto;
        a = event.before;
        b = event.after;
        break;
      case 'drop':
        proto = event.packet.proto;
        a = event.packet;
        break;
      case 'request':
        if (event.src === null || event.sport === null) return null;
        proto = 'tcp';
        a = { src: event.src, sport: event.sport, dst: event.dst, dport: event.dport };
        break;
      default:
        return null;
    }
    if ((++this.adds & 1023) === 0) this.expire(event.t);

    // one key per tuple, the same for both directions of it
    const ka = connectionKey(proto, a);
    const kb = b ? connectionKey(proto, b) : null;
    let flow = this.byKey.get(ka);
    if (flow && !this.isCurrent(flow, event)) flow = undefined;
    if (!flow && kb !== null) {
      flow = this.byKey.get(kb);
      if (flow && !this.isCurrent(flow, event)) flow = undefined;
    }
    if (!flow) flow = this.start(proto, a, event.t);
    this.index(ka, flow);
    if (kb !== null && kb !== ka) this.index(kb, flow);
    this.record(flow, event);
    if (this.live.size > this.maxFlows) this.evictOldest();
    return flow;
  }

  private index(key: string, flow: Flow): void {
    if (this.byKey.get(key) === flow) return;
    this.byKey.set(key, flow);
    flow.keys.push(key);
  }

  // A reused tuple (same client port later) must start a new flow.
  private isCurrent(flow: Flow, event: NatscopeEvent): boolean {
    if (event.t - flow.lastT > this.idleNs) return false;
    if (event.kind === 'ct-new' && flow.destroyedOn.includes(event.host)) return false;
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
      destroyedOn: [],
      keys: [],
    };
    this.live.set(flow.id, flow);
    return flow;
  }

  private record(flow: Flow, event: NatscopeEvent): void {
    if (event.t > flow.lastT) flow.lastT = event.t;
    if (event.kind === 'request') {
      if (flow.requests.length < this.maxEvents) flow.requests.push(event);
      return;
    }
    const e = event as KernelEvent;
    if (!flow.hosts.includes(e.host)) flow.hosts.push(e.host);
    if (e.kind === 'ct-destroy' && !flow.destroyedOn.includes(e.host)) flow.destroyedOn.push(e.host);
    if (flow.events.length >= this.maxEvents) {
      flow.dropped++; // a flow keeps its first events only: memory stays bounded
      return;
    }
    flow.events.push(e);
    if (e.kind === 'nat') flow.nat.push(e);
    else if (e.kind === 'drop') flow.drops.push(e);
  }

  private expire(now: number): void {
    for (const flow of this.live.values()) if (now - flow.lastT > this.idleNs) this.evict(flow);
  }

  // Not `live.values().next()`: after many deletes at a Map's front, V8
  // walks every deleted entry to find the first live one.
  private evictOldest(): void {
    while (!this.live.has(this.oldestId)) this.oldestId++;
    this.evict(this.live.get(this.oldestId)!);
  }

  private evict(flow: Flow): void {
    this.live.delete(flow.id);
    for (const key of flow.keys) if (this.byKey.get(key) === flow) this.byKey.delete(key);
  }
}

// A connection's key: the same for a tuple and its inverse. Seven UTF-16
// code units (protocol, then each endpoint as address high, address low,
// port, lower endpoint first): short keys hash fast, and no port is turned
// into decimal text. Other addresses fall back to a text key, which starts
// with a letter and so never equals a packed one.
function connectionKey(proto: Proto, t: Tuple): string {
  const s = ipv4Number(t.src);
  const d = ipv4Number(t.dst);
  const p = protoCode(proto);
  if (s === null || d === null || p === null) {
    const x = `${t.src}:${t.sport}`;
    const y = `${t.dst}:${t.dport}`;
    return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
  }
  return s < d || (s === d && t.sport <= t.dport)
    ? String.fromCharCode(p, s >>> 16, s & 0xffff, t.sport, d >>> 16, d & 0xffff, t.dport)
    : String.fromCharCode(p, d >>> 16, d & 0xffff, t.dport, s >>> 16, s & 0xffff, t.sport);
}

const protoCodes = new Map<string, number>();

// 1..31: below every letter a text key can start with; null past 31 protocols.
function protoCode(proto: Proto): number | null {
  let code = protoCodes.get(proto);
  if (code === undefined) {
    if (protoCodes.size >= 31) return null;
    code = protoCodes.size + 1;
    protoCodes.set(proto, code);
  }
  return code;
}
