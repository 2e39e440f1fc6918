import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { errnoOf } from '../../src/errors.js';
import { isAlive, isRunning, killGroup } from '../../src/util/process.js';

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
          refused = errnoOf(error);
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

describe('killGroup', () => {
  const exited = (child: ReturnType<typeof spawn>) =>
    new Promise<void>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
    );

  test("a running child's whole group goes, the child and what it started", async () => {
    // a detached child leads its own group; its background sleep is a member of it
    const leader = spawn('sh', ['-c', 'sleep 30 & echo $!; wait'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const member = Number(
      await new Promise<string>((resolve) => leader.stdout!.once('data', (d) => resolve(String(d)))),
    );
    expect(isRunning(member)).toBe(true);
    killGroup(leader, 'SIGKILL');
    await exited(leader);
    expect(leader.signalCode).toBe('SIGKILL');
    for (let i = 0; i < 100 && isRunning(member); i++) await sleep(10);
    expect(isRunning(member)).toBe(false);
  });

  test('a child already reaped still has its group signalled while what it started runs on', async () => {
    // the shell exits at once; its background sleep stays in the shell's group
    const leader = spawn('sh', ['-c', 'sleep 30 & echo $!'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const member = Number(
      await new Promise<string>((resolve) => leader.stdout!.once('data', (d) => resolve(String(d)))),
    );
    await exited(leader);
    expect(leader.exitCode).toBe(0);
    expect(isRunning(member)).toBe(true);
    killGroup(leader, 'SIGKILL');
    for (let i = 0; i < 100 && isRunning(member); i++) await sleep(10);
    expect(isRunning(member)).toBe(false);
  });

  test('a child already reaped is not signalled: its pid, by then, may lead another group', async () => {
    const gone = spawn('true', { detached: true, stdio: 'ignore' });
    await exited(gone);
    // the pid reused: another process that leads its own group under the same number
    const other = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    try {
      killGroup({ pid: other.pid, exitCode: gone.exitCode, signalCode: gone.signalCode }, 'SIGKILL');
      await sleep(100);
      expect(isRunning(other.pid!)).toBe(true);
      expect(other.exitCode).toBeNull();
      // the same handle, still running, is signalled
      killGroup(other, 'SIGKILL');
      await exited(other);
      expect(other.signalCode).toBe('SIGKILL');
    } finally {
      other.kill('SIGKILL');
    }
  });
});
