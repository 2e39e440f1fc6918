// Every bad input of test/cli/badInputs.ts that needs no root to reach its
// check, through the built CLI: exactly one `natscope: …` line and one
// `  fix: …` line, the exit code the list gives (never 0, never 70, the
// internal error), no hang, and nothing left: no process of its own, no
// state file, no namespace. (Root runs the unprivileged cases as uid 65534.)

import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
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
    // execa would follow the signal with SIGKILL 5 s later: the exit code must be natscope's own
    const run = natscope(['replay', fifo], { forceKillAfterDelay: false });
    // a signal before natscope has set its handlers ends node its own way, which proves nothing
    // (node catches SIGINT and SIGTERM from its start, to reset the terminal and die by the signal):
    // wait until natscope holds the FIFO open, which it does after taking the signals over
    // (a busy machine starts node slowly), then a while longer
    const held = realpathSync(fifo);
    const deadline = performance.now() + 60_000;
    while (!holdsOpen(run.pid, held)) {
      // one that ended meanwhile is reported at once, with what it said
      if (run.exitCode !== null)
        expect.fail(`natscope replay ended (exit ${run.exitCode}): ${String((await run).stderr)}`);
      expect(performance.now(), 'natscope never opened the FIFO').toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 50));
    }
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

// Whether a process has a file open: one of the links in /proc/PID/fd.
function holdsOpen(pid: number | undefined, path: string): boolean {
  if (pid === undefined) return false;
  const fds = `/proc/${pid}/fd`;
  let open: string[];
  try {
    open = readdirSync(fds);
  } catch {
    // the process is gone
    return false;
  }
  return open.some((fd) => {
    try {
      return readlinkSync(join(fds, fd)) === path;
    } catch {
      // closed meanwhile
      return false;
    }
  });
}
