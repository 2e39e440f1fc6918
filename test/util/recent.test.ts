import { describe, expect, test } from 'vitest';
import { RecentKeys } from '../../src/util/recent.js';

describe('RecentKeys', () => {
  test('holds the latest keys and never more than its capacity', () => {
    const recent = new RecentKeys<string>(1000);
    for (let i = 0; i < 10_000; i++) {
      recent.add(`k${i}`);
      expect(recent.size).toBeLessThanOrEqual(1000);
    }
    for (let i = 10_000 - 500; i < 10_000; i++) expect(recent.has(`k${i}`)).toBe(true);
    expect(recent.has('k0')).toBe(false);
    expect(recent.has(`k${10_000 - 1001}`)).toBe(false);
  });

  test('adding a key it holds does not count twice', () => {
    const recent = new RecentKeys<number>(10);
    for (let i = 0; i < 100; i++) recent.add(7);
    expect(recent.size).toBe(1);
    expect(recent.has(7)).toBe(true);
  });

  test('a capacity below 2 is refused', () => {
    expect(() => new RecentKeys(1)).toThrow(/at least 2/);
  });

  test('at the agent size, 1M adds leave between half and all of the capacity, the newest included', () => {
    const recent = new RecentKeys<string>(200_000);
    for (let i = 0; i < 1_000_000; i++) recent.add(`t${i}`);
    expect(recent.size).toBeGreaterThanOrEqual(100_000);
    expect(recent.size).toBeLessThanOrEqual(200_000);
    expect(recent.has('t999999')).toBe(true);
  });
});
