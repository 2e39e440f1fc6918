// Takes a lab down: stops the processes inside its namespaces (the pods,
// a load generator), then deletes the namespaces. Works from the state
// file alone, so it also undoes a lab whose `up` was killed half-way.

import { ipBatch, listNetns, netnsPids } from './exec.js';
import { readState, removeState } from './state.js';

export async function teardownLab(prefix: string): Promise<{ removed: string[] }> {
  const state = await readState(prefix);
  if (!state) return { removed: [] };
  const existing = new Set(await listNetns());
  const ours = state.namespaces.filter((n) => existing.has(n));
  // every process in a lab namespace was started by the lab
  await Promise.all(
    ours.map(async (ns) => {
      for (const pid of await netnsPids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }),
  );
  if (ours.length > 0) {
    // conntrack entries and iptables rules go with their namespace
    await ipBatch(null, ours.map((n) => `netns del ${n}`)).catch(async () => {
      // one at a time, so one stubborn namespace does not keep the others
      for (const n of ours) await ipBatch(null, [`netns del ${n}`]).catch(() => undefined);
    });
  }
  await removeState(prefix);
  return { removed: ours };
}
