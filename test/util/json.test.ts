import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { fieldPath, parseJsonAs } from '../../src/util/json.js';

const Answer = z.object({ outcome: z.enum(['answered', 'timeout']), latencyMs: z.number() });

describe('JSON from another program, read through its schema', () => {
  test('what fits comes back typed', () => {
    expect(parseJsonAs(Answer, '{"outcome":"answered","latencyMs":3,"extra":1}', 'the answer', 'fix it')).toEqual({
      outcome: 'answered',
      latencyMs: 3,
    });
  });

  test('text that is not JSON is one error with the fix, its start shown safely', () => {
    expect(() => parseJsonAs(Answer, 'oops\u001b[2J', 'the answer', 'rebuild it')).toThrow(
      expect.objectContaining({ message: 'the answer is not JSON: "oops\\u001b[2J"', hint: 'rebuild it' }),
    );
  });

  test('a field of the wrong kind is named, however deep', () => {
    expect(() =>
      parseJsonAs(z.object({ a: z.array(Answer) }), '{"a":[{"outcome":"lost","latencyMs":1}]}', 'x', 'y'),
    ).toThrow(/^x is not what natscope expects: a\[0\]\.outcome: /);
  });

  test('a field path names list items by index and odd keys in quotes', () => {
    expect(fieldPath(['packet', 'flags', 0])).toBe('packet.flags[0]');
    expect(fieldPath(['lab', 'hosts', 'my host', 'ip'])).toBe('lab.hosts["my host"].ip');
    expect(fieldPath([])).toBe('');
  });
});
