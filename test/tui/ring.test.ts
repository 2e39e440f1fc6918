import { describe, expect, it } from 'vitest';
import { Ring } from '../../tui/ring.js';

describe('Ring', () => {
  it('keeps the newest items up to its capacity and reports what it pushed out', () => {
    const r = new Ring<number>(3);
    expect([1, 2, 3].map((n) => r.push(n))).toEqual([undefined, undefined, undefined]);
    expect(r.push(4)).toBe(1);
    expect(r.toArray()).toEqual([2, 3, 4]);
    expect(r.evicted).toBe(1);
    expect(r.last()).toBe(4);
    expect(r.at(0)).toBe(2);
    expect(r.at(3)).toBeUndefined();
  });

  it('returns the newest n matching items, oldest first', () => {
    const r = new Ring<number>(10);
    for (let i = 1; i <= 10; i++) r.push(i);
    expect(r.newest(3)).toEqual([8, 9, 10]);
    expect(r.newest(2, (n) => n % 2 === 1)).toEqual([7, 9]);
  });
});
