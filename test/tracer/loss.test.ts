import { describe, expect, test } from 'vitest';
import { LossCounter } from '../../src/tracer/loss.js';

describe('LossCounter', () => {
  test("gaps in one CPU's sequence are lost lines, counted exactly", () => {
    const l = new LossCounter();
    expect(l.observe('nat', 'nat', 0, 1)).toBe(0);
    expect(l.observe('nat', 'nat', 0, 2)).toBe(0);
    expect(l.observe('nat', 'nat', 0, 7)).toBe(4);
    expect(l.observe('nat', 'nat', 1, 3)).toBe(2); // CPU 1 lost its first two
    expect(l.lost('nat')).toBe(6);
    expect(l.received('nat')).toBe(4);
  });

  test('a line that arrives late is taken back out of the loss; a repeated one changes nothing', () => {
    const l = new LossCounter();
    l.observe('conntrack', 'ct-new', 0, 1);
    expect(l.observe('conntrack', 'ct-new', 0, 5)).toBe(3);
    expect(l.observe('conntrack', 'ct-new', 0, 3)).toBe(-1);
    expect(l.lost('conntrack')).toBe(2);
    // seen before (a buffer printed, then dumped again at exit): not received twice
    expect(l.observe('conntrack', 'ct-new', 0, 3)).toBeNull();
    expect(l.observe('conntrack', 'ct-new', 0, 5)).toBeNull();
    expect(l.observe('conntrack', 'ct-new', 0, 2)).toBe(-1);
    expect(l.observe('conntrack', 'ct-new', 0, 4)).toBe(-1);
    expect(l.lost('conntrack')).toBe(0);
    expect(l.received('conntrack')).toBe(5);
  });

  test("two programs of one probe number their lines apart: one stream's numbers are not another's gap", () => {
    const l = new LossCounter();
    l.observe('conntrack', 'ct-new', 0, 1);
    l.observe('conntrack', 'ct-destroy', 0, 1);
    l.observe('conntrack', 'ct-new', 0, 2);
    l.observe('conntrack', 'ct-destroy', 0, 2);
    expect(l.lost('conntrack')).toBe(0);
    expect(l.received('conntrack')).toBe(4);
  });

  test('lines lost after the last arrival show up when the final counters settle', () => {
    const l = new LossCounter();
    l.observe('drop', 'drop', 0, 1);
    l.observe('drop', 'drop', 1, 1);
    expect(
      l.settle(
        'drop',
        'drop',
        new Map([
          [0, 5],
          [1, 1],
          [2, 3],
        ]),
      ),
    ).toBe(4 + 0 + 3);
    expect(l.lost()).toBe(7);
    // settling twice does not count twice
    expect(l.settle('drop', 'drop', new Map([[0, 5]]))).toBe(0);
  });

  test('probes are counted apart', () => {
    const l = new LossCounter();
    l.observe('nat', 'nat', 0, 3);
    l.observe('conntrack', 'ct-new', 0, 1);
    expect(l.summary()).toEqual([
      { probe: 'conntrack', received: 1, lost: 0 },
      { probe: 'nat', received: 1, lost: 2 },
    ]);
  });

  test('the summary lists a probe once it has received or lost an event: not one settled with nothing missing', () => {
    const l = new LossCounter();
    expect(l.settle('rewrite', 'rewrite', new Map([[0, 0]]))).toBe(0);
    expect(l.settle('drop', 'drop', new Map([[0, 2]]))).toBe(2);
    expect(l.summary()).toEqual([{ probe: 'drop', received: 0, lost: 2 }]);
    expect(l.received('rewrite')).toBe(0);
    expect(l.lost('nowhere')).toBe(0);
  });
});
