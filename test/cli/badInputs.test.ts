// Every bad input of test/cli/badInputs.ts that needs no root to reach its
// check, through the built CLI: exactly one `natscope: …` line and one
// `  fix: …` line, the exit code the list gives (never 0, never 70, the
// internal error), no hang, and nothing left: no process of its own, no
// state file, no namespace. (Root runs the unprivileged cases as uid 65534.)

import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { natscope } from '../cli.js';
import { testTempDir } from '../helpers.js';
import { BAD_INPUTS } from './badInputs.js';
import { expectAnswered, runBadInput } from './badInputRun.js';

const parent = testTempDir('natscope-badinputs-');

// the unprivileged cases' user must reach their folder: the run's temporary root gets its search bit for others meanwhile
const root = tmpdir();
const rootMode = statSync(root).mode & 0o7777;
beforeAll(() => {
  chmodSync(parent, 0o755);
  if (process.getuid?.() === 0) chmodSync(root, rootMode | 0o001);
});
afterAll(() => chmodSync(root, rootMode));

describe('a bad input gets one line saying what is wrong, one saying what to do, and leaves nothing', () => {
  test('each case is listed once, with its answer', () => {
    const names = BAD_INPUTS.map((c) => c.what);
    expect(new Set(names).size).toBe(names.length);
    for (const c of BAD_INPUTS) expect([c.error, c.fix], c.what).not.toContain('');
  });

  test.concurrent.each(BAD_INPUTS.filter((c) => !c.root).map((c) => [c.what, c] as const))(
    '%s',
    async (_what, input) => {
      expectAnswered(input, await runBadInput(input, parent));
    },
    90_000,
  );
});

test('replay of a FIFO no one writes to waits for a writer, and SIGTERM or Ctrl-C ends it at once', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const fifo = join(parent, `waiting-${signal}`);
    execFileSync('mkfifo', [fifo]);
    const run = natscope(['replay', fifo]);
    // a signal before natscope has set its handlers ends node by default, which proves nothing:
    // wait until the process catches it (a busy machine starts node slowly), then a while longer
    await vi.waitFor(() => expect(catches(run.pid, signal)).toBe(true), { timeout: 60_000, interval: 50 });
    await new Promise((r) => setTimeout(r, 1500));
    expect(run.exitCode, 'it waits').toBeNull();
    const sent = performance.now();
    run.kill(signal);
    const r = await run;
    // a hang would wait for a writer for ever; 20 s tells that apart even on a machine busy with other runs
    expect(performance.now() - sent).toBeLessThan(20_000);
    expect(r.exitCode).toBe(signal === 'SIGTERM' ? 143 : 130);
    expect(String(r.stderr)).toBe('');
  }
}, 180_000);

// Whether a process has a handler for a signal: the SigCgt mask in /proc/PID/status.
function catches(pid: number | undefined, signal: 'SIGTERM' | 'SIGINT'): boolean {
  if (pid === undefined) return false;
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  const bit = BigInt(osConstants.signals[signal] - 1);
  return mask !== undefined && ((BigInt(`0x${mask}`) >> bit) & 1n) === 1n;
}
