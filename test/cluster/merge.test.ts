import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { TimeOrderedMerge } from '../../src/cluster/merge.js';

function merge(windowMs = 300) {
  let now = 0;
  const out: { t: number; node: string }[] = [];
  const m = new TimeOrderedMerge<{ t: number; node: string }>((e) => out.push(e), { windowMs, now: () => now });
  return { m, out, advance: (ms: number) => (now += ms) };
}

describe('merging the nodes streams in time order', () => {
  test("two nodes' flushes arriving interleaved leave in time order once their window passes", () => {
    const { m, out, advance } = merge();
    for (const t of [10, 30, 50]) m.push({ t, node: 'a' });
    advance(120);
    for (const t of [20, 40, 60]) m.push({ t, node: 'b' });
    expect(out).toEqual([]);
    advance(200);
    m.release(false);
    // a's flush has waited its window: it leaves, with b's events that came before its last
    expect(out.map((e) => e.t)).toEqual([10, 20, 30, 40, 50]);
    advance(150);
    m.release(false);
    expect(out.map((e) => e.t)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(m.late).toBe(0);
    m.close();
  });

  test('an event older than one already sent goes out at once and is counted as late', () => {
    const { m, out, advance } = merge();
    m.push({ t: 100, node: 'a' });
    advance(400);
    m.release(false);
    m.push({ t: 50, node: 'b' });
    expect(out.map((e) => e.t)).toEqual([100, 50]);
    expect(m.late).toBe(1);
    m.close();
  });

  test('closing sends out everything held, in time order', () => {
    const { m, out } = merge();
    for (const t of [3, 1, 2]) m.push({ t, node: 'a' });
    m.close();
    expect(out.map((e) => e.t)).toEqual([1, 2, 3]);
  });

  test('agrees with holding every event and sorting what passed, on random arrivals, times and releases', () => {
    // the plain statement of the rule: at a release, the latest time among the
    // held events whose window has passed; every held event up to it leaves, in time order
    type Step = { kind: 'push'; t: number } | { kind: 'advance'; ms: number } | { kind: 'release' };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), t: fc.integer({ min: 0, max: 5000 }) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ kind: fc.constant('release' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps: Step[]) => {
        const { m, out, advance } = merge();
        let now = 0;
        let held: { t: number; node: string; arrived: number }[] = [];
        let lastOut = Number.NEGATIVE_INFINITY;
        const expected: number[] = [];
        const release = (all: boolean) => {
          let upTo = Number.NEGATIVE_INFINITY;
          for (const h of held) if (all || h.arrived <= now - 300) upTo = Math.max(upTo, h.t);
          const leaving = held.filter((h) => h.t <= upTo).sort((a, b) => a.t - b.t);
          held = held.filter((h) => h.t > upTo);
          for (const h of leaving) expected.push(h.t);
          lastOut = Math.max(lastOut, upTo);
        };
        // distinct times: events of one time may leave in either order in the plain statement
        const used = new Set<number>();
        for (const s of steps) {
          if (s.kind === 'push') {
            if (used.has(s.t)) continue;
            used.add(s.t);
            m.push({ t: s.t, node: 'a' });
            if (s.t < lastOut) expected.push(s.t);
            else held.push({ t: s.t, node: 'a', arrived: now });
          } else if (s.kind === 'advance') {
            advance(s.ms);
            now += s.ms;
          } else {
            m.release(false);
            release(false);
          }
        }
        m.close();
        release(true);
        expect(out.map((e) => e.t)).toEqual(expected);
      }),
      { numRuns: 500, seed: 20261205 },
    );
  });

  test('a batch leaves as its events pushed one by one at that moment would, and agrees with the plain statement, times repeating', () => {
    // batches of any order (a flush's counts after its events), times that
    // repeat (events of one time leave in the order they came), late events among them
    type Step = { kind: 'batch'; ts: number[] } | { kind: 'advance'; ms: number } | { kind: 'release' };
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('batch' as const),
        ts: fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 12 }),
      }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 400 }) }),
      fc.record({ kind: fc.constant('release' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps: Step[]) => {
        type Ev = { t: number; id: number };
        let now = 0;
        const batched: Ev[] = [];
        const single: Ev[] = [];
        const options = { windowMs: 300, now: () => now };
        const a = new TimeOrderedMerge<Ev>((e) => batched.push(e), options);
        const b = new TimeOrderedMerge<Ev>((e) => single.push(e), options);
        // the plain statement, held in arrival order (a stable sort keeps it for equal times)
        let held: (Ev & { arrived: number })[] = [];
        let lastOut = Number.NEGATIVE_INFINITY;
        const expected: Ev[] = [];
        const release = (all: boolean) => {
          let upTo = Number.NEGATIVE_INFINITY;
          for (const h of held) if (all || h.arrived <= now - 300) upTo = Math.max(upTo, h.t);
          const leaving = held.filter((h) => h.t <= upTo).sort((x, y) => x.t - y.t);
          held = held.filter((h) => h.t > upTo);
          for (const { t, id } of leaving) expected.push({ t, id });
          lastOut = Math.max(lastOut, upTo);
        };
        let id = 0;
        let late = 0;
        for (const s of steps) {
          if (s.kind === 'batch') {
            const events = s.ts.map((t) => ({ t, id: id++ }));
            a.pushBatch([...events]);
            for (const e of events) b.push(e);
            for (const e of events) {
              if (e.t < lastOut) {
                late++;
                expected.push(e);
              } else held.push({ ...e, arrived: now });
            }
          } else if (s.kind === 'advance') now += s.ms;
          else {
            a.release(false);
            b.release(false);
            release(false);
          }
        }
        a.close();
        b.close();
        release(true);
        expect(batched).toEqual(single);
        expect(batched).toEqual(expected);
        expect(a.late).toBe(late);
        expect(b.late).toBe(late);
      }),
      { numRuns: 500, seed: 20261205 },
    );
  });

  test('a batch in time order leaves whole, the same objects in its order, once its window passes', () => {
    const { m, out, advance } = merge();
    const batch = [1, 2, 2, 5].map((t) => ({ t, node: 'a' }));
    m.pushBatch(batch);
    advance(299);
    m.release(false);
    expect(out).toEqual([]);
    advance(1);
    m.release(false);
    expect(out).toHaveLength(4);
    for (const [i, e] of out.entries()) expect(e).toBe(batch[i]);
    m.close();
  });

  test('with sources that say how far they got, an event leaves as soon as every open source has passed it, well within its window', () => {
    const { m, out } = merge();
    const a = m.source();
    const b = m.source();
    a.push([10, 30].map((t) => ({ t, node: 'a' })));
    b.push([{ t: 20, node: 'b' }]);
    a.through(25);
    // b has not said how far it got: nothing leaves
    expect(out).toEqual([]);
    b.through(35);
    expect(out.map((e) => e.t)).toEqual([10, 20]);
    a.through(40);
    expect(out.map((e) => e.t)).toEqual([10, 20, 30]);
    // a time that goes back changes nothing: a stays at 40
    a.through(5);
    b.push([{ t: 36, node: 'b' }]);
    b.through(50);
    expect(out.map((e) => e.t)).toEqual([10, 20, 30, 36]);
    b.push([{ t: 45, node: 'b' }]);
    b.through(60);
    expect(out.map((e) => e.t)).toEqual([10, 20, 30, 36]);
    expect(m.late).toBe(0);
    m.close();
    expect(out.map((e) => e.t)).toEqual([10, 20, 30, 36, 45]);
  });

  test('a source that has not said how far it got holds the others to the window; once it ends, they go on without it', () => {
    const { m, out, advance } = merge();
    const a = m.source();
    const b = m.source();
    a.push([{ t: 10, node: 'a' }]);
    a.through(100);
    advance(299);
    m.release(false);
    expect(out).toEqual([]);
    advance(1);
    m.release(false);
    expect(out.map((e) => e.t)).toEqual([10]);
    a.push([{ t: 150, node: 'a' }]);
    a.through(200);
    expect(out.map((e) => e.t)).toEqual([10]);
    b.end();
    expect(out.map((e) => e.t)).toEqual([10, 150]);
    // an ended source stays ended: a alone decides
    b.through(210);
    a.push([{ t: 250, node: 'a' }]);
    a.through(300);
    expect(out.map((e) => e.t)).toEqual([10, 150, 250]);
    m.close();
  });

  test('nodes whose flushes are time-disjoint and say the previous marker time: every event in time order, none late, each out once every node has passed it', () => {
    // Each node as its bpftrace flushes: marker times D0 < D1 < …; flush m
    // holds events in (H(m-1), H(m)], H(m) a hand-over tick between D(m-1)
    // and D(m); after flush m the node says through(D(m-1)). The nodes'
    // flushes interleave in any order, the clock never reaching the window.
    const node = fc
      .array(
        fc.record({
          gap: fc.integer({ min: 2, max: 100 }),
          handOver: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
          events: fc.integer({ min: 0, max: 6 }),
        }),
        { maxLength: 8 },
      )
      .map((flushes) => {
        let marker = 0;
        let handedOver = 0;
        return flushes.map(({ gap, handOver, events }) => {
          const previous = marker;
          marker += gap;
          const h = Math.floor(previous + 1 + handOver * (gap - 1));
          // distinct times within (handedOver, h]
          const times = Array.from(
            { length: events },
            (_, i) => handedOver + ((i + 1) * (h - handedOver)) / (events + 1),
          );
          handedOver = h;
          return { times, through: previous };
        });
      });
    fc.assert(
      fc.property(
        fc.array(node, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (nodes, order) => {
          const { m, out, advance } = merge();
          const sources = nodes.map(() => m.source());
          const next = nodes.map(() => 0);
          const said = nodes.map(() => Number.NEGATIVE_INFINITY);
          const pushed: number[] = [];
          const step = (i: number) => {
            const flush = nodes[i]![next[i]!++]!;
            sources[i]!.push(flush.times.map((t) => ({ t, node: String(i) })));
            pushed.push(...flush.times);
            if (flush.through > 0) {
              sources[i]!.through(flush.through);
              said[i] = flush.through;
            }
            if (next[i] === nodes[i]!.length) {
              sources[i]!.end();
              said[i] = Number.POSITIVE_INFINITY;
            }
            advance(1);
            m.release(false);
            // every event all nodes have passed is out, in time order
            const passed = Math.min(...said);
            const due = pushed.filter((t) => t <= passed).sort((x, y) => x - y);
            expect(out.map((e) => e.t).slice(0, due.length)).toEqual(due);
          };
          for (const o of order) {
            const open = nodes.flatMap((n, i) => (next[i]! < n.length ? [i] : []));
            if (open.length > 0) step(open[o % open.length]!);
          }
          for (const [i, n] of nodes.entries()) while (next[i]! < n.length) step(i);
          m.close();
          expect(out.map((e) => e.t)).toEqual([...pushed].sort((x, y) => x - y));
          expect(m.late).toBe(0);
        },
      ),
      { numRuns: 500, seed: 20261207 },
    );
  });
});
