import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { holdLabLock, labLockFd, labLockPath, withLabLock } from '../../../src/lab/netns/lock.js';
import { runAllCleanups } from '../../../src/util/cleanup.js';
import { ROOT, tempDirForTest } from '../../helpers.js';

const saved = process.env.NATSCOPE_STATE_DIR;
beforeEach(() => {
  process.env.NATSCOPE_STATE_DIR = join(tempDirForTest('natscope-labl-'), 'state');
});
afterEach(() => {
  if (saved === undefined) delete process.env.NATSCOPE_STATE_DIR;
  else process.env.NATSCOPE_STATE_DIR = saved;
});

// Another natscope process trying the same prefix (lab/netns/lock.ts, run by tsx).
async function otherProcessTries(prefix: string, action: string) {
  return execa(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { withLabLock } = await import(${JSON.stringify(join(ROOT, 'src', 'lab', 'netns', 'lock.ts'))});
       try { await withLabLock(${JSON.stringify(prefix)}, ${JSON.stringify(action)}, async () => console.log('got it')); }
       catch (e) { console.log(e.message + ' | ' + e.hint); }`,
    ],
    { cwd: ROOT, reject: false },
  );
}

describe("a lab's lock", () => {
  test('is re-entrant in one process, and free again (its file gone) when the outermost use ends', async () => {
    await withLabLock('t-', 'up', async () => {
      expect(labLockFd('t-')).not.toBeNull();
      await withLabLock('t-', 'down', async () => undefined);
      expect(existsSync(labLockPath('t-'))).toBe(true);
      const other = await otherProcessTries('t-', 'up');
      expect(other.stdout).toBe(
        `a lab up with prefix t- is in progress (pid ${process.pid}) | wait for it to finish (or stop it: sudo kill ${process.pid}), then run this again`,
      );
    });
    expect(labLockFd('t-')).toBeNull();
    expect(existsSync(labLockPath('t-'))).toBe(false);
    expect((await otherProcessTries('t-', 'up')).stdout).toBe('got it');
  });

  test('one prefix does not hold up another', async () => {
    await withLabLock('a-', 'up', async () => {
      expect((await otherProcessTries('b-', 'up')).stdout).toBe('got it');
    });
  });

  test("held for a whole command, it is let go by the command's cleanups as it exits, file and all", async () => {
    await holdLabLock('h-', 'down');
    await withLabLock('h-', 'up', async () => undefined);
    expect(labLockFd('h-')).not.toBeNull();
    await runAllCleanups();
    expect(labLockFd('h-')).toBeNull();
    expect(existsSync(labLockPath('h-'))).toBe(false);
  });
});
