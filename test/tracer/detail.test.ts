// The detail budget's rules, in the one place they live.

import { describe, expect, test } from 'vitest';
import {
  DEFAULT_DETAIL_PER_SECOND,
  detailBudgetArgument,
  formatDetail,
  isDetail,
  parseDetail,
} from '../../src/tracer/detail.js';

describe('the detail budget', () => {
  test('goes to the probes per CPU and flush, never rounded down to "no budget"', () => {
    expect(detailBudgetArgument(DEFAULT_DETAIL_PER_SECOND)).toBe('20');
    expect(detailBudgetArgument(1000)).toBe('100');
    expect(detailBudgetArgument(1)).toBe('1');
    expect(detailBudgetArgument(0)).toBe('0');
  });

  test('--detail takes events per second or "all"', () => {
    expect(parseDetail('all')).toBe(0);
    expect(parseDetail(' 500 ')).toBe(500);
    for (const bad of ['0', '-5', '1.5', 'lots', ''])
      expect(() => parseDetail(bad)).toThrow(/--detail ".*" is not a number of events or "all"/);
  });

  test('what formatDetail writes, parseDetail reads back', () => {
    for (const detail of [0, 1, 200, 100_000]) expect(parseDetail(formatDetail(detail))).toBe(detail);
  });

  test('a budget from a protocol client is a whole number ≥ 0', () => {
    for (const good of [0, 1, 200]) expect(isDetail(good)).toBe(true);
    for (const bad of [-1, 1.5, '200', null, Number.NaN, Number.POSITIVE_INFINITY]) expect(isDetail(bad)).toBe(false);
  });
});
