// Run folders after natscope is killed with SIGKILL (root): the tracer's
// program folder stays behind, owned by a dead process, and the next run
// that makes a run folder removes it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, test } from 'vitest';
import { parseOwner } from '../../src/util/owner.js';
import { runRoot } from '../../src/util/rundir.js';
import { CLI, natscope } from '../cli.js';
import { killIfRunning } from '../processes.js';

// This run's tracer folders: natscope-trace-* whose owner is the given pid.
function traceDirsOf(pid: number): string[] {
  if (!existsSync(runRoot())) return [];
  return readdirSync(runRoot())
    .filter((d) => d.startsWith('natscope-trace-'))
    .map((d) => join(runRoot(), d))
    .filter((d) => {
      try {
        return parseOwner(readFileSync(join(d, 'owner'), 'utf8'))?.pid === pid;
      } catch {
        return false;
      }
    });
}

test("kill -9 of trace leaves the tracer's program folder; the next trace removes it", async () => {
  const trace = execa(process.execPath, [CLI, 'trace', '--probes', 'drop', '--vm', 'off', '--duration', '120'], {
    reject: false,
  });
  let seen = '';
  trace.stderr?.on('data', (d: Buffer) => (seen += d.toString()));
  for (let i = 0; i < 600 && !/attached in/.test(seen); i++) await new Promise((r) => setTimeout(r, 50));
  expect(seen).toMatch(/attached in/);
  const [left] = traceDirsOf(trace.pid!);
  expect(left).toBeDefined();
  expect(readdirSync(left!).sort()).toEqual(['natscope.bt', 'owner']);
  trace.kill('SIGKILL');
  await trace;
  // the bpftrace it started runs on in its own process group: stopped here, by pid
  for (const line of (await execa('pgrep', ['-f', left!], { reject: false })).stdout.split('\n').filter(Boolean))
    killIfRunning(Number(line));
  expect(existsSync(join(left!, 'natscope.bt'))).toBe(true);

  const next = natscope(['trace', '--probes', 'drop', '--vm', 'off', '--duration', '1']);
  const done = await next;
  expect(done.exitCode, String(done.stderr)).toBe(0);
  expect(existsSync(left!)).toBe(false);
  // and the new one removed its own
  expect(traceDirsOf(next.pid!)).toEqual([]);
}, 180_000);
