import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AttachWatch } from '../../src/tracer/attach.js';
import { ATTACH_NOTICE, parseBpftraceLine } from '../../src/tracer/parse.js';
import { FIXTURES } from '../helpers.js';

// bpftrace 0.17's start-up warning (printed on every start where it cannot raise the limit).
const MEMLOCK =
  'ERROR: Unknown error -1: couldn\'t set RLIMIT_MEMLOCK for bpftrace. If your program is not loading, you can try "ulimit -l 8192" to fix the problem';

describe("bpftrace's attach notice", () => {
  test('bpftrace 0.17 tells on stderr: the chunk that brings the notice attaches, once', () => {
    const watch = new AttachWatch();
    expect(watch.onStderr(`${MEMLOCK}\nAttaching 12 probes...\n`)).toEqual({ attachedNow: false, errors: [] });
    expect(watch.attached).toBe(false);
    expect(watch.onStderr(`${ATTACH_NOTICE}\n`)).toEqual({ attachedNow: true, errors: [] });
    expect(watch.attached).toBe(true);
    expect(watch.onStderr(`${ATTACH_NOTICE}\n`).attachedNow).toBe(false);
  });

  test('bpftrace 0.23 tells on stdout, between the JSON lines of a real capture', () => {
    const lines = readFileSync(join(FIXTURES, 'bpftrace', 'lab-all-probes-0.23.jsonl'), 'utf8').split('\n');
    const context = { hostOf: () => '?', dropReason: () => '?' };
    const notices = lines.filter((line) => parseBpftraceLine(line, context).type === 'attach-notice');
    expect(notices).toEqual([ATTACH_NOTICE]);
    const watch = new AttachWatch();
    watch.onStdoutNotice();
    expect(watch.attached).toBe(true);
    // the notice came: stderr no longer holds it back, and an error there is reported
    expect(watch.onStderr('ERROR: map full\n')).toEqual({ attachedNow: false, errors: ['ERROR: map full'] });
  });

  test('before the notice, errors are kept to explain the failure; from its chunk on, they are reported', () => {
    const watch = new AttachWatch();
    expect(watch.onStderr('natscope.bt:3:1-9: ERROR: early\n').errors).toEqual([]);
    expect(watch.onStderr(`${ATTACH_NOTICE}\n  natscope.bt:9:1-4: ERROR: late  \n${MEMLOCK}\n`)).toEqual({
      attachedNow: true,
      errors: ['natscope.bt:9:1-4: ERROR: late'],
    });
    expect(watch.stderr).toContain('ERROR: early');
  });

  test("only the start of bpftrace's stderr is kept", () => {
    const watch = new AttachWatch();
    const chunk = `${'x'.repeat(40_000)}\n`;
    for (let i = 0; i < 5; i++) watch.onStderr(chunk);
    expect(watch.stderr.length).toBe(2 * chunk.length);
  });
});
