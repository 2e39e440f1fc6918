// The remembered answer to "do kernel function probes attach here?": read
// back only in the shape natscope writes it (src/agent/placement.ts).

import { describe, expect, test } from 'vitest';
import { parseSaved } from '../../src/agent/placement.js';

describe('the remembered function-probe answer', () => {
  test('a success with its boot reads back', () => {
    const text = JSON.stringify({ ok: true, detail: 'attached', bootId: 'b1' });
    expect(parseSaved(text)).toEqual({ bootId: 'b1', result: { ok: true, detail: 'attached' } });
  });

  test.each([
    ['a failure (never remembered: it is asked again)', JSON.stringify({ ok: false, detail: 'no', bootId: 'b1' })],
    ['no boot', JSON.stringify({ ok: true, detail: 'attached' })],
    ['a detail that is not text', JSON.stringify({ ok: true, detail: 3, bootId: 'b1' })],
    ['a boot that is not text', JSON.stringify({ ok: true, detail: 'attached', bootId: ['b1'] })],
    ['not an object', '[true]'],
    ['not JSON', 'ok'],
  ])('%s is not taken', (_what, text) => {
    expect(parseSaved(text)).toBeNull();
  });
});
