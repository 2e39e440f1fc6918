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
});
