// One rule trace per lab at a time: tracedRequest holds
// <state dir>/<prefix>trace.lock (src/util/lock.ts) while its trace tables
// and listeners exist; a second trace of the same lab, from this process
// (two keys of the TUI, two clients of one agent) or another (two
// `trace --rules`), waits for it.
//
// A lock, not a table name of each run's own: `nft monitor trace` reports
// every traced packet of its namespace, whichever table set the trace bit,
// so two runs' listeners would each get the other's packets and readiness
// probes (both ping READY_ADDRESS), and each run's table would replace the
// other's (traceTableScript deletes a table of its name left by a killed
// run). A traced request takes about a second, so waiting costs little;
// the lock is dropped by the kernel when its holder dies however it dies.
//
// Separate from the lab's own lock (up, down, set: src/lab/netns/lock.ts):
// that one refuses at once rather than waiting, and is re-entrant within a
// process, where two traces must exclude each other too.

import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../errors.js';
import { ensureStateDir } from '../lab/netns/state.js';
import { onCleanup } from '../util/cleanup.js';
import { type LockHolder, tryLock } from '../util/lock.js';

// A run holds it for its request's timeout (TRACED_TIMEOUT_MAX_S at most)
// plus its listeners' start and readiness probes (20 s at most each,
// monitor.ts: the micro-VM under load is slow): longer than this, the
// holder is stuck, and the wait is given up.
export const TRACE_LOCK_WAIT_MS = 90_000;
const POLL_MS = 50;

export function traceLockPath(prefix: string): string {
  return join(ensureStateDir(), `${prefix}trace.lock`);
}

function stillBusy(prefix: string, holder: LockHolder | null, waitedMs: number): NatscopeError {
  const who = holder ? ` (pid ${holder.pid})` : '';
  return new NatscopeError(
    `another rule trace of the lab with prefix ${prefix}${who} is still running after ${Math.round(waitedMs / 1000)} s`,
    {
      hint: holder
        ? `wait for it to end, or stop it: sudo kill ${holder.pid}; then run this again`
        : `wait for it to end, then run this again; fuser -v ${traceLockPath(prefix)} names it`,
    },
  );
}

// Runs `work` holding the lab's trace lock, once any other trace of the lab is done.
export async function withTraceLock<T>(
  prefix: string,
  work: () => Promise<T>,
  waitMs = TRACE_LOCK_WAIT_MS,
): Promise<T> {
  const path = traceLockPath(prefix);
  const started = performance.now();
  let holder: LockHolder | null = null;
  for (;;) {
    const attempt = await tryLock(path, 'rule trace');
    if (attempt.lock) {
      const lock = attempt.lock;
      // released on every way out, Ctrl-C too (after the tracing's own cleanup, registered later)
      const release = onCleanup(`release the rule trace lock of lab ${prefix}`, () => lock.release());
      try {
        return await work();
      } finally {
        await release.run();
      }
    }
    holder = attempt.holder ?? holder;
    const waited = performance.now() - started;
    if (waited > waitMs) throw stillBusy(prefix, holder, waited);
    await sleep(POLL_MS);
  }
}
