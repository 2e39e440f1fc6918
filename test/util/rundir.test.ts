import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { formatOwner, processStart } from '../../src/util/owner.js';
import { makeRunDir, removeRunDir, runRoot, sweepRunDirs } from '../../src/util/rundir.js';
import { isRoot, ROOT, tempDirForTest } from '../helpers.js';

const saved = process.env.NATSCOPE_STATE_DIR;
beforeEach(() => {
  // as root the run folders live in the state directory: one of the test's own
  process.env.NATSCOPE_STATE_DIR = tempDirForTest('natscope-rundir-');
});
afterEach(() => {
  if (saved === undefined) delete process.env.NATSCOPE_STATE_DIR;
  else process.env.NATSCOPE_STATE_DIR = saved;
});

const deadPid = () => spawnSync('true').pid!;

// A run folder as a natscope killed with SIGKILL leaves it.
function leftBehind(name: string, owner: string): string {
  const dir = join(runRoot(), name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(runRoot(), 0o700);
  writeFileSync(join(dir, 'owner'), owner);
  writeFileSync(join(dir, 'natscope.bt'), 'tracepoint:skb:kfree_skb {}');
  return dir;
}

describe('run folders', () => {
  test("are made in natscope's own folder (mode 0700), name their owner, and go with their root once empty", async () => {
    const dir = await makeRunDir('trace');
    expect(dir.startsWith(join(runRoot(), 'natscope-trace-'))).toBe(true);
    expect(statSync(runRoot()).mode & 0o777).toBe(0o700);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, 'owner'), 'utf8')).toBe(
      formatOwner({ pid: process.pid, start: processStart(process.pid) }),
    );
    await removeRunDir(dir);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(runRoot())).toBe(false);
  });

  test('the next run removes a folder whose owner died (kill -9), and keeps a living one', async () => {
    const dead = leftBehind('natscope-trace-dead01', formatOwner({ pid: deadPid(), start: 1 }));
    const reused = leftBehind('natscope-vm-reused', formatOwner({ pid: process.pid, start: 1 }));
    const alive = leftBehind('natscope-vm-alive1', formatOwner({ pid: process.pid, start: processStart(process.pid) }));
    const dir = await makeRunDir('trace');
    // a pid the kernel gave to another process since counts as dead
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(reused)).toBe(false);
    expect(existsSync(alive)).toBe(true);
    await removeRunDir(dir);
    await removeRunDir(alive);
  });

  test('what is not a run folder of this user with mode 0700 is never removed, dead owner or not', async () => {
    const owner = formatOwner({ pid: deadPid(), start: 1 });
    const open = leftBehind('natscope-vm-open01', owner);
    chmodSync(open, 0o755);
    const elsewhere = join(tempDirForTest('natscope-elsewhere-'), 'target');
    mkdirSync(elsewhere, { mode: 0o700 });
    writeFileSync(join(elsewhere, 'owner'), owner);
    symlinkSync(elsewhere, join(runRoot(), 'natscope-vm-link01'));
    const noOwner = leftBehind('natscope-vm-fresh1', '');
    await import('node:fs/promises').then((fs) => fs.rm(join(noOwner, 'owner')));
    expect(await sweepRunDirs()).toEqual([]);
    expect(existsSync(open) && existsSync(join(elsewhere, 'owner')) && existsSync(noOwner)).toBe(true);
  });

  test.skipIf(!isRoot)("another user's folder with a dead owner is left alone", async () => {
    const dir = leftBehind('natscope-vm-nobody', formatOwner({ pid: deadPid(), start: 1 }));
    chownSync(dir, 65534, 65534);
    expect(await sweepRunDirs()).toEqual([]);
    expect(existsSync(join(dir, 'natscope.bt'))).toBe(true);
  });

  test("a nobody's /tmp/natscope-vm-* folder naming a dead pid, the old layout, is not looked at", async () => {
    const dir = join(tmpdir(), `natscope-vm-${process.pid}x`);
    mkdirSync(dir, { mode: 0o700 });
    try {
      writeFileSync(join(dir, 'owner'), String(deadPid()));
      if (isRoot) chownSync(dir, 65534, 65534);
      await removeRunDir(await makeRunDir('vm'));
      expect(readdirSync(dir)).toEqual(['owner']);
    } finally {
      spawnSync('rm', ['-r', dir]);
    }
  });
});

describe('a run folder being made when natscope is interrupted', () => {
  // a natscope-like process: its signal handlers, a run folder asked for, then Ctrl-C after `turns`
  // turns of its event loop; it says whether the folder had been handed over when the signal
  // was handled (a signal is handled a few turns after it is sent: the making goes on meanwhile)
  const script = (turns: number) => `
    const { installSignalHandlers, onInterrupt } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'util', 'cleanup.js'))});
    const { makeRunDir } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'util', 'rundir.js'))});
    installSignalHandlers();
    let handedOver = false;
    onInterrupt(() => { process.stdout.write(handedOver ? 'handed over' : 'being made'); });
    const making = makeRunDir('t').then(() => { handedOver = true; });
    for (let i = 0; i < ${turns}; i++) await new Promise((r) => setImmediate(r));
    process.kill(process.pid, 'SIGINT');
    await making;
    await new Promise((r) => setTimeout(r, 5000));
  `;

  test('leaves nothing when interrupted before the folder is handed over; what was handed over is the caller’s', async () => {
    const outcomes = new Set<string>();
    for (const turns of [0, 1, 2, 3, 5, 8, 13, 40]) {
      const state = tempDirForTest('natscope-rundir-int-');
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(turns)], {
        env: { ...process.env, NATSCOPE_STATE_DIR: state, TMPDIR: state },
        encoding: 'utf8',
      });
      expect(r.status, `${turns} turns: ${r.stderr}`).toBe(130);
      outcomes.add(r.stdout);
      const left = readdirSync(state);
      if (r.stdout === 'being made') expect(left, `${turns} turns`).toEqual([]);
      else {
        // handed over: natscope's own folder holds the one run folder, for its owner's cleanup (or the next sweep)
        const root = join(state, left[0] ?? '');
        expect(readdirSync(root).filter((n) => n.startsWith('natscope-t-'))).toHaveLength(1);
      }
    }
    // the interruption did land while the folder was being made
    expect(outcomes).toContain('being made');
  });
});
