// A micro-VM's run folder after natscope is killed with SIGKILL (root, qemu
// under emulation): qemu dies with natscope (--pdeathsig), the folder stays
// behind owned by a dead process, and the next micro-VM removes it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, test } from 'vitest';
import { ownerRunning, parseOwner } from '../../src/util/owner.js';
import { runRoot } from '../../src/util/rundir.js';
import { CLI, natscope } from '../cli.js';

function vmDirsOf(pid: number): string[] {
  if (!existsSync(runRoot())) return [];
  return readdirSync(runRoot())
    .filter((d) => d.startsWith('natscope-vm-'))
    .map((d) => join(runRoot(), d))
    .filter((d) => {
      try {
        return parseOwner(readFileSync(join(d, 'owner'), 'utf8'))?.pid === pid;
      } catch {
        return false;
      }
    });
}

test('kill -9 of natscope vm run leaves its run folder; the next micro-VM removes it', async () => {
  const run = execa(process.execPath, [CLI, 'vm', 'run', '--', 'sleep', '300'], { reject: false });
  let seen = '';
  run.stderr?.on('data', (d: Buffer) => (seen += d.toString()));
  for (let i = 0; i < 900 && !/micro-VM up/.test(seen); i++) await new Promise((r) => setTimeout(r, 100));
  expect(seen).toMatch(/micro-VM up/);
  const [left] = vmDirsOf(run.pid!);
  expect(left).toBeDefined();
  run.kill('SIGKILL');
  await run;
  // qemu follows natscope (parent-death signal)
  for (let i = 0; i < 100 && (await execa('pgrep', ['-f', left!], { reject: false })).exitCode === 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect((await execa('pgrep', ['-f', left!], { reject: false })).exitCode).toBe(1);
  const owner = parseOwner(readFileSync(join(left!, 'owner'), 'utf8'))!;
  expect(ownerRunning(owner)).toBe(false);

  const next = await natscope(['vm', 'run', '-q', '--', 'true']);
  expect(next.exitCode, String(next.stderr)).toBe(0);
  expect(existsSync(left!)).toBe(false);
}, 300_000);
