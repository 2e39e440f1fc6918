// The lab's rule trace lock (src/ruletrace/traceLock.ts): traces of one lab
// run one after the other, from one process or two; a trace stuck past the
// wait is named in the error; the lock's file goes when the last one ends.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { traceLockPath, withTraceLock } from '../../src/ruletrace/traceLock.js';
import { tryLock } from '../../src/util/lock.js';
import { ROOT, tempDirForTest } from '../helpers.js';

const saved = process.env.NATSCOPE_STATE_DIR;
beforeEach(() => {
  process.env.NATSCOPE_STATE_DIR = join(tempDirForTest('natscope-trl-'), 'state');
});
afterEach(() => {
  if (saved === undefined) delete process.env.NATSCOPE_STATE_DIR;
  else process.env.NATSCOPE_STATE_DIR = saved;
});

// What one trace does while it holds the lock: notes when it began and ended.
function work(log: string[], name: string, ms: number) {
  return async () => {
    log.push(`${name} begins`);
    await sleep(ms);
    log.push(`${name} ends`);
    return name;
  };
}

describe("a lab's rule trace lock", () => {
  test('two traces of one lab in one process run one after the other, and both finish', async () => {
    const log: string[] = [];
    const results = await Promise.all([
      withTraceLock('t-', work(log, 'first', 150)),
      (async () => {
        await sleep(20);
        return withTraceLock('t-', work(log, 'second', 10));
      })(),
    ]);
    expect(results).toEqual(['first', 'second']);
    expect(log).toEqual(['first begins', 'first ends', 'second begins', 'second ends']);
    expect(existsSync(traceLockPath('t-'))).toBe(false);
  });

  test('traces of two labs do not wait for each other', async () => {
    const log: string[] = [];
    await Promise.all([withTraceLock('a-', work(log, 'a', 150)), withTraceLock('b-', work(log, 'b', 150))]);
    expect(log.slice(0, 2).sort()).toEqual(['a begins', 'b begins']);
  });

  test('a trace of another process is waited for', async () => {
    const other = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `const { withTraceLock } = await import(${JSON.stringify(join(ROOT, 'src', 'ruletrace', 'traceLock.ts'))});
         await withTraceLock('t-', async () => { console.log('holding'); await new Promise((r) => setTimeout(r, 600)); console.log('done'); });`,
      ],
      { cwd: ROOT, env: { NATSCOPE_STATE_DIR: process.env.NATSCOPE_STATE_DIR }, buffer: false },
    );
    let said = '';
    // its lock is taken once it says so
    await new Promise<void>((resolve) =>
      other.stdout?.on('data', (d: Buffer) => {
        said += d.toString();
        resolve();
      }),
    );
    const before = performance.now();
    await withTraceLock('t-', async () => {
      expect(said).toBe('holding\ndone\n');
    });
    expect(performance.now() - before).toBeGreaterThan(300);
    await other;
  });

  test('a trace still running after the wait is named, with what to do', async () => {
    const held = await tryLock(traceLockPath('t-'), 'rule trace');
    if (!held.lock) throw new Error('the lock was not free');
    try {
      let ran = false;
      await expect(
        withTraceLock(
          't-',
          async () => {
            ran = true;
          },
          300,
        ),
      ).rejects.toMatchObject({
        message: `another rule trace of the lab with prefix t- (pid ${process.pid}) is still running after 0 s`,
        hint: `wait for it to end, or stop it: sudo kill ${process.pid}; then run this again`,
      });
      expect(ran).toBe(false);
    } finally {
      held.lock.release();
    }
  });

  test('a trace that fails lets go of the lock', async () => {
    await expect(
      withTraceLock('t-', async () => {
        throw new Error('the request failed');
      }),
    ).rejects.toThrow('the request failed');
    expect(existsSync(traceLockPath('t-'))).toBe(false);
    expect(await withTraceLock('t-', async () => 'again')).toBe('again');
  });
});
