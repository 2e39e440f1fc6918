import { describe, expect, test } from 'vitest';
import { FlowTracker, MERGE_WINDOW_NS } from '../../src/events/flows.js';
import { inverse } from '../../src/events/tuple.js';
import type { CtNewEvent, NatscopeEvent } from '../../src/events/types.js';
import { join } from 'node:path';
import { FIXTURES, recordedEvents } from '../helpers.js';

function track(events: NatscopeEvent[], options = {}) {
  const tracker = new FlowTracker(options);
  for (const e of events) tracker.add(e);
  return tracker;
}

const recorded = recordedEvents();

// The recording's first event of a kind, the template the tests copy.
function firstOf<K extends NatscopeEvent['kind']>(kind: K): Extract<NatscopeEvent, { kind: K }> {
  const event = recorded.find((e): e is Extract<NatscopeEvent, { kind: K }> => e.kind === kind);
  if (!event) throw new Error(`the recording has no ${kind} event`);
  return event;
}
const mysqlRequests = recorded.filter((e) => e.kind === 'request' && e.target === 'mysql');

describe('flow correlation on a recording of the incident', () => {
  test("the broken mysql request is one flow: node1's DNAT, node2's entry, the vpn's drops, the request", () => {
    const tracker = track(recorded);
    const broken = mysqlRequests.find((r) => r.kind === 'request' && r.outcome === 'timeout')!;
    if (broken.kind !== 'request') throw new Error('fixture lacks a timed-out mysql request');
    const flow = tracker.flows().find((f) => f.requests.includes(broken))!;
    expect(flow).toBeDefined();
    expect(flow.nat.map((n) => [n.host, n.manip])).toEqual([['node1', 'DNAT']]);
    const node2 = flow.events.find((e): e is CtNewEvent => e.kind === 'ct-new' && e.host === 'node2')!;
    expect(node2.orig).toEqual({ src: broken.src, sport: broken.sport, dst: '10.244.2.2', dport: 3306 });
    expect(flow.drops.length).toBeGreaterThan(0);
    for (const d of flow.drops.filter((x) => x.host === 'vpn')) {
      expect(d.packet).toMatchObject({
        src: '10.244.2.2',
        sport: 3306,
        dst: broken.src,
        dport: broken.sport,
        flags: ['SYN', 'ACK'],
      });
      expect(d.reason).toBe('NETFILTER_DROP');
    }
    expect(flow.hosts).toEqual(expect.arrayContaining(['vpn', 'node1', 'node2']));
  });

  test('ofRequest finds the flow a request made by its client port, and none for a port no request used', () => {
    const tracker = track(recorded);
    for (const r of mysqlRequests) {
      if (r.kind !== 'request') continue;
      expect(tracker.ofRequest(r)?.requests).toContain(r);
      expect(tracker.ofRequest({ ...r, sport: (r.sport ?? 0) + 1 })).toBeUndefined();
    }
  });

  test("with masqueradeAll the SNAT port chosen by node1 still joins node2's entry to the flow", () => {
    const tracker = track(recorded);
    const fixed = mysqlRequests.find(
      (r) => r.kind === 'request' && r.outcome === 'answered' && r.peer?.startsWith('10.0.1.11'),
    )!;
    if (fixed.kind !== 'request') throw new Error('fixture lacks an answered mysql request through node1');
    const flow = tracker.flows().find((f) => f.requests.includes(fixed))!;
    const snat = flow.nat.find((n) => n.manip === 'SNAT')!;
    expect(snat.host).toBe('node1');
    expect(`${snat.to.ip}:${snat.to.port}`).toBe(fixed.peer); // what the pod saw
    const node2 = flow.events.find((e): e is CtNewEvent => e.kind === 'ct-new' && e.host === 'node2')!;
    expect(node2.orig.src).toBe('10.0.1.11');
    expect(node2.orig.sport).toBe(snat.to.port);
    expect(flow.drops.filter((d) => d.reason === 'NETFILTER_DROP')).toEqual([]);
  });

  test('events that are not about a connection join no flow', () => {
    const tracker = new FlowTracker();
    for (const e of recorded.filter((x) => x.kind === 'status' || x.kind === 'config' || x.kind === 'observation'))
      expect(tracker.add(e)).toBeNull();
    expect(tracker.size).toBe(0);
  });

  test('memory stays bounded: old flows are evicted past maxFlows', () => {
    const tracker = new FlowTracker({ maxFlows: 100 });
    const template = firstOf('ct-new');
    for (let i = 0; i < 10_000; i++) {
      tracker.add({
        ...template,
        t: template.t + i,
        orig: { ...template.orig, sport: 1024 + i },
        reply: { ...template.reply, dport: 1024 + i },
      });
    }
    expect(tracker.size).toBe(100);
    expect(tracker.flows()[0]!.first.sport).toBe(1024 + 9900);
  });

  test('past maxFlows the oldest live flow goes, also after expiry has removed older ones', () => {
    const tracker = new FlowTracker({ maxFlows: 1000, idleNs: 1e6 });
    const template = firstOf('ct-new');
    const connection = (port: number, t: number): CtNewEvent => ({
      ...template,
      t,
      orig: { ...template.orig, sport: port },
      reply: { ...template.reply, dport: port },
    });
    for (let i = 0; i < 1000; i++) tracker.add(connection(2000 + i, i));
    // 1 s later: the expiry pass (every 1024 adds) removes all of those
    for (let i = 0; i < 1500; i++) tracker.add(connection(10_000 + i, 1e9 + i));
    expect(tracker.size).toBe(1000);
    expect(tracker.flows()[0]!.first.sport).toBe(10_500);
    // an evicted flow's tuples are forgotten: the same connection again is a new flow
    const again = tracker.add(connection(10_000, 1e9 + 2000))!;
    expect(again.events).toHaveLength(1);
  });

  test('a flow is one protocol: tcp and udp between the same endpoints are two flows', () => {
    const tracker = new FlowTracker();
    const template = firstOf('ct-new');
    const tcp = tracker.add(template)!;
    const udp = tracker.add({ ...template, proto: 'udp' })!;
    expect(udp.id).not.toBe(tcp.id);
    expect(tracker.add({ ...template, t: template.t + 1 })!.id).toBe(tcp.id);
  });

  test('addresses that are not IPv4 (an IPv6 replay) still join a tuple to its inverse', () => {
    const tracker = new FlowTracker();
    const template = firstOf('ct-new');
    const orig = { src: 'fd00::10', sport: 40000, dst: 'fd00:96::1', dport: 80 };
    const reply = { src: 'fd00:244::5', sport: 80, dst: 'fd00::10', dport: 40000 };
    const first = tracker.add({ ...template, orig, reply })!;
    const fromReply = tracker.add({
      ...template,
      host: 'node2',
      orig: { src: reply.dst, sport: reply.dport, dst: reply.src, dport: reply.sport },
      reply,
    })!;
    expect(fromReply.id).toBe(first.id);
    expect(
      tracker.add({ ...template, orig: { ...orig, sport: 40001 }, reply: { ...reply, dport: 40001 } })!.id,
    ).not.toBe(first.id);
  });

  test('flows that start without NAT or drops get their own lists with their first one', () => {
    const tracker = new FlowTracker();
    const template = firstOf('ct-new');
    const nat = firstOf('nat');
    const a = tracker.add(template)!;
    const b = tracker.add({
      ...template,
      orig: { ...template.orig, sport: 1 },
      reply: { ...template.reply, dport: 1 },
    })!;
    expect(a.nat).toEqual([]);
    tracker.add({ ...nat, orig: a.first, reply: inverse(a.first) });
    expect(a.nat).toHaveLength(1);
    expect(b.nat).toEqual([]);
    expect(tracker.flows().map((f) => f.id)).toEqual([a.id, b.id]);
  });

  test('an evicted flow is gone from get() and flows(); a bad maxFlows is refused', () => {
    const tracker = new FlowTracker({ maxFlows: 3 });
    const template = firstOf('ct-new');
    const ids = [1, 2, 3, 4, 5].map(
      (p) =>
        tracker.add({ ...template, orig: { ...template.orig, sport: p }, reply: { ...template.reply, dport: p } })!.id,
    );
    expect(tracker.get(ids[0]!)).toBeUndefined();
    expect(tracker.get(ids[4]!)!.first.sport).toBe(5);
    expect(tracker.flows().map((f) => f.first.sport)).toEqual([3, 4, 5]);
    expect(() => new FlowTracker({ maxFlows: 0 })).toThrow(/maxFlows/);
  });

  test('a long-lived connection stays one flow while short ones come and expire around it', () => {
    const tracker = new FlowTracker({ maxFlows: 4, idleNs: 10e9 });
    const template = firstOf('ct-new');
    const connection = (port: number, t: number): CtNewEvent => ({
      ...template,
      t,
      orig: { ...template.orig, sport: port },
      reply: { ...template.reply, dport: port },
    });
    const pooled = tracker.add(connection(5000, 0))!;
    let shorts = 0;
    for (let step = 1; step <= 20_000; step++) {
      const t = step * 0.1e9; // the pooled connection is busy every 100 ms
      expect(tracker.add(connection(5000, t))!.id).toBe(pooled.id);
      if (step % 600 === 0) tracker.add(connection(10_000 + shorts++, t)); // a short one a minute
    }
    expect(shorts).toBeGreaterThan(4 * 4);
    expect(tracker.size).toBeLessThanOrEqual(4);
  });

  test('idle flows expire by event time, and a reused client port starts a new flow', () => {
    const tracker = new FlowTracker({ idleNs: 1e9 });
    const template = firstOf('ct-new');
    const a = tracker.add({ ...template, t: 0 })!;
    const b = tracker.add({ ...template, t: 5e9 })!; // same tuple, 5 s later
    expect(b.id).not.toBe(a.id);
  });
});

// A cluster node whose clock runs behind reports the connection it saw (after
// another node's DNAT) first: the merged stream then brings the translated
// tuple before the NAT event that joins it to the client's.
describe('events that arrive on both sides of a NAT before the NAT itself', () => {
  const broken = mysqlRequests.find((r) => r.kind === 'request' && r.outcome === 'timeout');
  if (broken?.kind !== 'request') throw new Error('fixture lacks a timed-out mysql request');
  const ofBroken = (e: NatscopeEvent) =>
    (e.kind === 'ct-new' || e.kind === 'nat' || e.kind === 'ct-destroy') && e.orig.sport === broken.sport;
  const node2First = [
    ...recorded.filter((e) => ofBroken(e) && e.host === 'node2'),
    ...recorded.filter((e) => ofBroken(e) && e.host === 'vpn' && e.kind === 'ct-new'),
    ...recorded.filter((e) => ofBroken(e) && e.host === 'node1'),
  ];

  test('the two flows they started become one, under the older id, with every event and host', () => {
    const tracker = new FlowTracker();
    const ids = node2First.map((e) => tracker.add(e)!.id);
    // node2's entry and the vpn's started a flow each; node1's events joined them
    expect(new Set(ids.slice(0, -1)).size).toBeGreaterThan(1);
    expect(tracker.size).toBe(1);
    const [flow] = tracker.flows();
    expect(flow!.id).toBe(ids[0]);
    expect(flow!.events).toHaveLength(node2First.length);
    expect(new Set(flow!.hosts)).toEqual(new Set(['node2', 'vpn', 'node1']));
    // the connection as it reached the NAT host, the client's side: not node2's translated one
    expect(flow!.first).toEqual({ src: broken.src, sport: broken.sport, dst: '10.96.207.61', dport: 3306 });
    expect(flow!.nat.map((n) => n.manip)).toEqual(['DNAT']);
  });

  test("past maxEventsPerFlow the other flow's tuples still lead to the merged flow", () => {
    const tracker = new FlowTracker({ maxEventsPerFlow: 1 });
    for (const e of node2First) tracker.add(e);
    expect(tracker.size).toBe(1);
    const [flow] = tracker.flows();
    expect(flow!.events).toHaveLength(1);
    expect(flow!.dropped).toBe(node2First.length - 1);
    expect(tracker.add(broken)!.id).toBe(flow!.id);
    expect(tracker.size).toBe(1);
  });

  test('later events on either side find the merged flow: the request, and the drop of the reply', () => {
    const tracker = new FlowTracker();
    for (const e of node2First) tracker.add(e);
    const drop = recorded.find(
      (e) => e.kind === 'drop' && e.packet.dport === broken.sport && e.packet.src === '10.244.2.2',
    )!;
    const id = tracker.flows()[0]!.id;
    expect(tracker.add(drop)!.id).toBe(id);
    expect(tracker.add(broken)!.id).toBe(id);
    expect(tracker.ofRequest(broken)!.id).toBe(id);
    expect(tracker.size).toBe(1);
  });
});

describe('a reused client port is a new connection, not the far side of the old one', () => {
  // nginx from the office, answered and closed (its entries destroyed on the vpn and node1), from
  // a real run; then the same tuples again, as a client that reuses its port makes them: node1's
  // DNAT (printed before its entry is confirmed) names the old connection's reply tuple
  const walkthrough = recordedEvents(join(FIXTURES, 'recordings', 'walkthrough-nftables.jsonl'));
  const first = walkthrough.filter(
    (e) => (e.kind === 'ct-new' || e.kind === 'nat' || e.kind === 'ct-destroy') && e.orig.sport === 39442,
  );
  const again = first.map((e) => ({ ...e, t: e.t + 30e9 }));

  test('two flows, each with its own events and one DNAT', () => {
    expect(first.map((e) => e.kind)).toEqual(['ct-new', 'nat', 'ct-new', 'ct-destroy', 'ct-destroy']);
    const tracker = track([...first, ...again]);
    const flows = tracker.flows();
    expect(flows).toHaveLength(2);
    expect(flows[0]!.events).toEqual(first);
    expect(flows[1]!.events).toEqual(again);
    for (const f of flows) expect(f.nat.map((n) => n.manip)).toEqual(['DNAT']);
  });
});

describe('a direct connection to the pod, then a Service connection on the same client port', () => {
  // office → mysql's pod by its own address (vpn, node2), then the broken Service request, as
  // recorded, its client port made the same: node1's DNAT names the first connection's tuple
  const direct = recorded.find((r) => r.kind === 'request' && r.target === 'pod/mysql');
  const broken = mysqlRequests.find((r) => r.kind === 'request' && r.outcome === 'timeout');
  if (direct?.kind !== 'request' || broken?.kind !== 'request') throw new Error('fixture lacks the requests');
  const ofPort = (port: number | null) =>
    recorded.filter((e) => (e.kind === 'ct-new' || e.kind === 'nat') && e.orig.sport === port);
  const first = ofPort(direct.sport);
  const reusing = (ms: number) =>
    ofPort(broken.sport).map((e) => {
      if (e.kind !== 'ct-new' && e.kind !== 'nat') throw new Error('not a conntrack event');
      const port = direct.sport!;
      const t = first[first.length - 1]!.t + ms * 1e6;
      const orig = { ...e.orig, sport: port };
      const reply = { ...e.reply, dport: port };
      return { ...e, t, orig, reply };
    });

  test(`${MERGE_WINDOW_NS / 1e9} s later: two flows; the pod's node in the second, not the first one's`, () => {
    expect(new Set(first.map((e) => e.host))).toEqual(new Set(['vpn', 'node2']));
    const tracker = track([...first, ...reusing(MERGE_WINDOW_NS / 1e6 + 1000)]);
    expect(tracker.flows().map((f) => f.nat.length)).toEqual([0, 1]);
  });

  test('within the window it reads as one connection seen from two clocks: the limit of telling them apart', () => {
    const tracker = track([...first, ...reusing(100)]);
    expect(tracker.size).toBe(1);
  });
});
