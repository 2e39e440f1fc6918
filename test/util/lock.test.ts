import { spawnSync } from 'node:child_process';
import { existsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { tryLock } from '../../src/util/lock.js';
import { ownerRunning, processStart } from '../../src/util/owner.js';
import { ROOT, tempDirForTest } from '../helpers.js';

const LOCK_MODULE = join(ROOT, 'src', 'util', 'lock.ts');

describe('tryLock', () => {
  test('a second taker is told who holds the lock and for what; after release the file is gone and the lock free', async () => {
    const path = join(tempDirForTest('natscope-lock-'), 'x.lock');
    const first = await tryLock(path, 'up');
    expect(first.lock).toBeDefined();
    const second = await tryLock(path, 'down');
    expect(second.lock).toBeUndefined();
    expect(second.holder).toEqual({ pid: process.pid, start: processStart(process.pid), action: 'up' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    first.lock!.release();
    expect(existsSync(path)).toBe(false);
    const third = await tryLock(path, 'set');
    expect(third.lock).toBeDefined();
    third.lock!.release();
  });

  test('a holder killed with SIGKILL leaves the lock free at once: no stale lock to judge', async () => {
    const path = join(tempDirForTest('natscope-lock-'), 'x.lock');
    const holder = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { tryLock } = await import(${JSON.stringify(LOCK_MODULE)});
         const a = await tryLock(${JSON.stringify(path)}, 'up');
         console.log(a.lock ? 'locked' : 'busy');
         setInterval(() => undefined, 1000);`,
      ],
      { cwd: ROOT, reject: false, buffer: false },
    );
    const said = await new Promise<string>((resolve) => holder.stdout?.once('data', (d: Buffer) => resolve(String(d))));
    expect(said.trim()).toBe('locked');
    const busy = await tryLock(path, 'down');
    expect(busy.holder).toMatchObject({ pid: holder.pid, action: 'up' });
    expect(ownerRunning(busy.holder!)).toBe(true);
    holder.kill('SIGKILL');
    await holder;
    expect(ownerRunning(busy.holder!)).toBe(false);
    // the file is still there (nobody released it), and free
    expect(existsSync(path)).toBe(true);
    const after = await tryLock(path, 'down');
    expect(after.lock).toBeDefined();
    after.lock!.release();
  });

  test('a child given the descriptor keeps the lock after its parent is killed, until it exits', async () => {
    const path = join(tempDirForTest('natscope-lock-'), 'x.lock');
    const holder = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { spawn } = await import('node:child_process');
         const { tryLock } = await import(${JSON.stringify(LOCK_MODULE)});
         const a = await tryLock(${JSON.stringify(path)}, 'up');
         const child = spawn('sleep', ['1.5'], { stdio: ['ignore', 'ignore', 'ignore', a.lock.fd], detached: true });
         console.log(child.pid);
         setInterval(() => undefined, 1000);`,
      ],
      { cwd: ROOT, reject: false, buffer: false },
    );
    const child = Number(
      await new Promise<string>((resolve) => holder.stdout?.once('data', (d: Buffer) => resolve(String(d)))),
    );
    holder.kill('SIGKILL');
    await holder;
    const busy = await tryLock(path, 'down');
    expect(busy.holder).toMatchObject({ pid: holder.pid, action: 'up' });
    expect(ownerRunning(busy.holder!)).toBe(false);
    while (ownerRunning({ pid: child, start: null })) await new Promise((r) => setTimeout(r, 50));
    const after = await tryLock(path, 'down');
    expect(after.lock).toBeDefined();
    after.lock!.release();
  });

  test('a symlink where the lock should be is refused, and what it points to is left alone', async () => {
    const dir = tempDirForTest('natscope-lock-');
    writeFileSync(join(dir, 'precious'), 'keep me');
    symlinkSync(join(dir, 'precious'), join(dir, 'x.lock'));
    await expect(tryLock(join(dir, 'x.lock'), 'up')).rejects.toThrow(/the lock .*x\.lock is a symbolic link/);
    expect(spawnSync('cat', [join(dir, 'precious')]).stdout.toString()).toBe('keep me');
  });
});
