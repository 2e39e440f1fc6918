import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { isAlive, isRunning } from '../../src/util/process.js';

describe('isAlive', () => {
  test("another user's process is alive, though it may not be signalled (EPERM)", async () => {
    if (process.getuid?.() !== 0) {
      // init is root's
      expect(isAlive(1)).toBe(true);
      return;
    }
    // as root no signal is refused: another user's process, and this one as a third user for the check
    const other = spawn('setpriv', ['--reuid=65533', '--regid=65533', '--clear-groups', 'sleep', '30'], {
      stdio: 'ignore',
    });
    try {
      for (
        let i = 0;
        i < 100 && readFileSync(`/proc/${other.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1] !== '65533';
        i++
      )
        await sleep(10);
      process.seteuid!(65534);
      let alive: boolean;
      let refused: string | undefined;
      try {
        alive = isAlive(other.pid!);
        try {
          process.kill(other.pid!, 0);
        } catch (error) {
          refused = (error as NodeJS.ErrnoException).code;
        }
      } finally {
        process.seteuid!(0);
      }
      expect(refused).toBe('EPERM');
      expect(alive).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });
});

describe('isRunning', () => {
  test('this process runs; a process that exited and was reaped does not', () => {
    expect(isRunning(process.pid)).toBe(true);
    const done = spawnSync('true');
    expect(isRunning(done.pid!)).toBe(false);
  });

  test('a zombie is not running, though it can still be signalled', async () => {
    // the background `sleep 0` exits under a parent (the exec'd sleep) that never reaps it
    const parent = spawn('sh', ['-c', 'sleep 0 & exec sleep 30'], { stdio: 'ignore' });
    try {
      let zombie = 0;
      for (let i = 0; i < 500 && !zombie; i++) {
        await sleep(20);
        const children = readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim();
        const pid = Number(children.split(' ')[0]);
        if (pid && readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) zombie = pid;
      }
      expect(zombie).toBeGreaterThan(0);
      expect(isAlive(zombie)).toBe(true);
      expect(isRunning(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
