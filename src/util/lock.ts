// An exclusive lock on a file: flock(2), held until release() or until the
// holder dies, however it dies. Node has no flock, so a child `flock -n 3`
// takes it on this process's own descriptor, passed as its fd 3. A flock
// lock belongs to the open file description, not to a process: it stays
// held after the child exits, as long as a descriptor for it is open, and
// the kernel drops it when the last one closes, so a kill -9 never leaves a
// stale lock behind (no pid files to judge, no takeover race). A child that
// must keep the lock while it runs on (a command that would go on after a
// kill -9 of natscope) is given the same descriptor.
// The file names its holder (pid, start time, action) for whoever finds it
// taken. It is removed on release; one opened just before that removal is
// noticed after locking (it is no longer the file at the path) and opened
// again, so two holders can never lock two different files.

import { spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError, errnoOf, NatscopeError } from '../errors.js';
import { formatOwner, type Owner, parseOwner, self } from './owner.js';
import { trustedOwner, UnsafeFile } from './safeFiles.js';

export interface LockHolder extends Owner {
  action: string;
}

export interface Lock {
  readonly path: string;
  // for a child that must hold the lock as long as it runs (pass it as an extra stdio descriptor)
  readonly fd: number;
  release(): void;
}

export type LockAttempt = { lock: Lock; holder?: undefined } | { lock?: undefined; holder: LockHolder | null };

// Takes the lock if it is free; otherwise says who holds it (null: not known yet).
export async function tryLock(path: string, action: string): Promise<LockAttempt> {
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    } catch (error) {
      if (errnoOf(error) === 'ELOOP')
        throw new UnsafeFile(`the lock ${path} is a symbolic link`, { hint: `rm ${path}` });
      throw new NatscopeError(`cannot open the lock ${path}: ${describeError(error)}`, {
        hint: `check the folder it is in: ls -ld ${dirname(path)} (NATSCOPE_STATE_DIR moves it)`,
      });
    }
    const opened = fstatSync(fd);
    if (!opened.isFile() || !trustedOwner(opened.uid)) {
      closeSync(fd);
      throw new UnsafeFile(`the lock ${path} is not a file natscope made`, { hint: `rm ${path}` });
    }
    if (!(await flockNow(fd))) {
      const holder = await readHolder(fd);
      closeSync(fd);
      return { holder };
    }
    if (!sameFile(path, opened)) {
      // its holder removed it while releasing it: lock the file that is there now
      closeSync(fd);
      if (attempt > 100)
        throw new NatscopeError(`cannot take the lock ${path}: it keeps being replaced`, {
          hint: 'something else is removing it: find it (fuser, lsof) and run this again',
        });
      continue;
    }
    const text = Buffer.from(`${formatOwner(self())}${action}\n`);
    ftruncateSync(fd, 0);
    writeSync(fd, text, 0, text.length, 0);
    let released = false;
    return {
      lock: {
        path,
        fd,
        release() {
          if (released) return;
          released = true;
          // removed while still held, then let go: see the top of this file
          if (sameFile(path, opened)) unlinkSync(path);
          closeSync(fd);
        },
      },
    };
  }
}

function sameFile(path: string, opened: { dev: number; ino: number }): boolean {
  try {
    const now = lstatSync(path);
    return now.dev === opened.dev && now.ino === opened.ino;
  } catch {
    return false;
  }
}

// flock(fd, LOCK_EX | LOCK_NB), by a child on the same open file description.
function flockNow(fd: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--nonblock', '--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new NatscopeError('flock not found', { hint: 'apt-get install util-linux' })
          : new NatscopeError(`cannot run flock: ${error.message}`),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(true);
      else if (code === 1) resolve(false);
      else reject(new NatscopeError(`flock failed (exit ${code ?? '?'}): ${stderr.trim()}`));
    });
  });
}

// The holder writes its name just after locking: give it a moment.
async function readHolder(fd: number): Promise<LockHolder | null> {
  for (let i = 0; i < 20; i++) {
    const buffer = Buffer.alloc(256);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const [ownerLine, action] = buffer.subarray(0, n).toString().split('\n');
    const owner = parseOwner(ownerLine ?? '');
    if (owner && action && /^[a-z -]{1,32}$/.test(action)) return { ...owner, action };
    await sleep(5);
  }
  return null;
}
