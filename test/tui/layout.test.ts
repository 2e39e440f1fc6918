import { describe, expect, it } from 'vitest';
import { layout, MIN_COLS, MIN_ROWS } from '../../tui/layout.js';

describe('layout', () => {
  it('puts the NAT panes side by side at 100×30 and uses every row', () => {
    const l = layout(100, 30);
    expect(l).toMatchObject({ kind: 'ok', sideBySide: true });
    if (l.kind !== 'ok') return;
    // header 2, three title rows, footer 1
    expect(2 + 3 + l.nat + l.drops + l.flows + 1).toBe(30);
    expect(l.nat).toBeGreaterThanOrEqual(10);
  });

  it('stacks the NAT panes below 96 columns, still using every row', () => {
    for (const rows of [MIN_ROWS, 24, 25, 50]) {
      const l = layout(80, rows);
      expect(l.kind).toBe('ok');
      if (l.kind !== 'ok') continue;
      expect(l.sideBySide).toBe(false);
      expect(2 + 4 + 2 * l.nat + l.drops + l.flows + 1).toBe(rows);
      expect(l.nat).toBeGreaterThanOrEqual(2);
    }
  });

  it('gives a taller terminal more rows', () => {
    const small = layout(120, 30);
    const big = layout(120, 60);
    if (small.kind !== 'ok' || big.kind !== 'ok') throw new Error('layout failed');
    expect(big.nat).toBeGreaterThan(small.nat);
  });

  it('refuses a terminal below the minimum', () => {
    expect(layout(MIN_COLS - 1, 40).kind).toBe('too-small');
    expect(layout(120, MIN_ROWS - 1).kind).toBe('too-small');
  });
});
