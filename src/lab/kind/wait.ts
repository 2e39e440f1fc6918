// Polling with a deadline, for what Kubernetes does in its own time (pods
// starting, kube-proxy re-syncing). NATSCOPE_KIND_WAIT_S stretches or
// shortens every wait (default 120 s) for slow laptops, or tests.

import { setTimeout as sleep } from 'node:timers/promises';

export function waitSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.NATSCOPE_KIND_WAIT_S);
  return Number.isFinite(n) && n > 0 ? n : 120;
}

// Calls `check` until it returns a value (not null) or the time is up; then
// returns null. The last observation is what an error message should quote.
export async function waitFor<T>(
  check: () => Promise<T | null>,
  timeoutMs: number,
  pollMs = Math.min(1000, Math.max(100, timeoutMs / 20)),
): Promise<T | null> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (performance.now() + pollMs > end) return null;
    await sleep(pollMs);
  }
}
