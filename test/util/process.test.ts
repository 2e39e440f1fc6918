import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { isAlive, isRunning } from '../../src/util/process.js';

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
