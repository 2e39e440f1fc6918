import { describe, expect, test } from 'vitest';
import { formatEvent } from '../../src/events/format.js';
import { capturedCounts } from '../helpers.js';

describe('one human line per event', () => {
  test('a count past the detail budget says what was counted, where, and that it is not shown', () => {
    const nat = capturedCounts().find((e) => e.of === 'nat' && e.by === 'DNAT')!;
    const line = formatEvent(nat, nat.t - 1_500_000_000);
    expect(line).toBe(
      `   1.500 ${nat.host.padEnd(6)} +${nat.count} nat DNAT event(s) counted, not shown (over the detail budget)`,
    );
    const ct = capturedCounts().find((e) => e.of === 'ct-new')!;
    expect(formatEvent(ct, ct.t)).toContain(` +${ct.count} ct-new event(s) counted`);
  });
});
