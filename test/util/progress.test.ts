// Progress lines quote what others said (a guest console, bpftrace, a
// cluster): they reach the terminal escaped, never as the sequences they hold.

import { afterEach, describe, expect, test, vi } from 'vitest';
import { progress } from '../../src/util/progress.js';

afterEach(() => vi.restoreAllMocks());

function written(f: () => void): string {
  let out = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  f();
  return out;
}

describe('progress lines', () => {
  test('carry the step name and its time, and keep line breaks of a quoted text', () => {
    const out = written(() => progress('vm', false).log('the micro-VM stopped: first\nsecond'));
    expect(out).toMatch(/^\[vm +\d+\.\d s\] the micro-VM stopped: first\nsecond\n$/);
  });

  test('escape control sequences a quoted console or cluster carries', () => {
    const out = written(() => {
      const step = progress('lab', false);
      step.log('console: \x1b[2Jcleared\r');
      step.done('pod \x9b31mred');
    });
    expect(out).toContain('console: \\x1b[2Jcleared\\x0d\n');
    expect(out).toContain('pod \\x9b31mred\n');
    for (const raw of ['\x1b', '\x9b', '\r']) expect(out).not.toContain(raw);
  });

  test('say nothing when quiet', () => {
    expect(written(() => progress('vm', true).log('\x1b[2J'))).toBe('');
  });
});
