// One change to a lab at a time: `lab up`, `lab down` and `lab set` of one
// prefix hold <state dir>/<prefix>lab.lock (src/util/lock.ts) for as long
// as they run; a second one is told who is at work and stops. Within one
// process the lock is re-entrant (lab up may take a stale lab down first).

import { join } from 'node:path';
import { NatscopeError } from '../../errors.js';
import { type CleanupHandle, onCleanup } from '../../util/cleanup.js';
import { type Lock, type LockHolder, tryLock } from '../../util/lock.js';
import { ownerRunning } from '../../util/owner.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureStateDir } from './state.js';

export type LabAction = 'up' | 'down' | 'set';

interface Held {
  lock: Lock;
  depth: number;
  // lets go of the lock if the process exits while holding it (an error, Ctrl-C): the file goes too
  atExit: CleanupHandle;
}

const held = new Map<string, Held>();

// How long to wait for a lock whose holder died while a child it started
// (given the lock so that it could not be overtaken) finishes its work.
const ORPHAN_WAIT_MS = 10_000;

export function labLockPath(prefix: string): string {
  return join(ensureStateDir(), `${prefix}lab.lock`);
}

function busy(prefix: string, holder: LockHolder): NatscopeError {
  return new NatscopeError(`a lab ${holder.action} with prefix ${prefix} is in progress (pid ${holder.pid})`, {
    hint: `wait for it to finish (or stop it: sudo kill ${holder.pid}), then run this again`,
  });
}

// Takes the prefix's lock (or counts one more use of it, if this process holds it); returns its release.
export async function takeLabLock(prefix: string, action: LabAction): Promise<() => void> {
  const mine = held.get(prefix);
  if (mine) {
    mine.depth++;
    return releaser(prefix, mine);
  }
  const path = labLockPath(prefix);
  const deadline = Date.now() + ORPHAN_WAIT_MS;
  let last: LockHolder | null = null;
  for (;;) {
    const attempt = await tryLock(path, action);
    if (attempt.lock) {
      const lock = attempt.lock;
      const entry: Held = {
        lock,
        depth: 1,
        atExit: onCleanup(`release the lock of lab ${prefix}`, () => {
          held.delete(prefix);
          lock.release();
        }),
      };
      held.set(prefix, entry);
      return releaser(prefix, entry);
    }
    last = attempt.holder ?? last;
    if (attempt.holder && ownerRunning(attempt.holder)) throw busy(prefix, attempt.holder);
    if (Date.now() > deadline) {
      throw new NatscopeError(
        `the lock ${path} is still held by a program started by natscope${last ? ` (pid ${last.pid}, now gone)` : ''}`,
        { hint: `wait a moment and run this again; fuser -v ${path} names the program` },
      );
    }
    await sleep(50);
  }
}

function releaser(prefix: string, entry: Held): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--entry.depth > 0) return;
    held.delete(prefix);
    entry.atExit.cancel();
    entry.lock.release();
  };
}

export async function withLabLock<T>(prefix: string, action: LabAction, run: () => Promise<T>): Promise<T> {
  const release = await takeLabLock(prefix, action);
  try {
    return await run();
  } finally {
    release();
  }
}

// For a command that is one lab change from start to end (lab up, lab down):
// the lock is held until the command's cleanups run as it exits.
export async function holdLabLock(prefix: string, action: LabAction): Promise<void> {
  await takeLabLock(prefix, action);
}

// The lock's descriptor, for a child that must hold the lock while it runs (null: not held here).
export function labLockFd(prefix: string): number | null {
  return held.get(prefix)?.lock.fd ?? null;
}
