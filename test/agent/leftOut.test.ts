// What the agent leaves out of the stream (the lab's load) is counted, per
// host, kind and `by`, and handed out as counted events: nothing vanishes.

import { describe, expect, test } from 'vitest';
import { LeftOut } from '../../src/agent/leftOut.js';
import { isKernelEvent } from '../../src/events/types.js';
import { recordedEvents } from '../helpers.js';

const kernel = recordedEvents().filter(isKernelEvent);

describe('the load left out of the stream', () => {
  test('every event is counted once, per host, kind and by, and the counts say why', () => {
    const left = new LeftOut();
    for (const e of kernel) left.add(e);
    const counts = left.drain();
    expect(counts.reduce((n, c) => n + c.count, 0)).toBe(kernel.length);
    expect(left.total).toBe(kernel.length);
    for (const c of counts) expect(c).toMatchObject({ kind: 'counted', cause: 'load' });
    const dnatsOnNode1 = kernel.filter((e) => e.kind === 'nat' && e.manip === 'DNAT' && e.host === 'node1').length;
    expect(counts.find((c) => c.of === 'nat' && c.by === 'DNAT' && c.host === 'node1')?.count).toBe(dnatsOnNode1);
    const drops = kernel.filter((e) => e.kind === 'drop');
    // one count per host and reason
    const perHostReason = new Set(drops.map((d) => `${d.host} ${d.reason}`));
    expect(counts.filter((c) => c.of === 'drop').map((c) => `${c.host} ${c.by}`)).toEqual([...perHostReason]);
  });

  test('a drain hands out what gathered since the last one; the total keeps growing', () => {
    const left = new LeftOut();
    left.add(kernel[0]!);
    expect(left.drain()).toHaveLength(1);
    expect(left.drain()).toEqual([]);
    left.add(kernel[0]!);
    expect(left.drain()[0]?.count).toBe(1);
    expect(left.total).toBe(2);
  });
});
