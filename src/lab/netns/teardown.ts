// Takes a lab down: stops the processes inside its namespaces (the pods,
// a load generator), then deletes the namespaces. Works from the state
// file alone, so it also undoes a lab whose `up` was killed half-way.

import { readlinkSync } from 'node:fs';
import { NatscopeError } from '../../errors.js';
import { helperPath } from './build.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipBatch, listNetns, netnsPids } from './exec.js';
import { readState, removeState } from './state.js';
import { isRunning } from '../../util/process.js';

export async function teardownLab(prefix: string): Promise<{ removed: string[] }> {
  const state = await readState(prefix);
  if (!state) return { removed: [] };
  const existing = new Set(await listNetns());
  const ours = state.namespaces.filter((n) => existing.has(n));
  // the lab's own programs (pods, load generators) die with it; anything
  // else someone ran in a lab namespace keeps running (only the name goes)
  const pids = (await Promise.all(ours.map((ns) => netnsPids(ns)))).flat().filter((pid) => isOurHelper(pid));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await waitGone(pids);
  if (ours.length > 0) {
    // conntrack entries and iptables rules go with their namespace
    await ipBatch(
      null,
      ours.map((n) => `netns del ${n}`),
    ).catch(async () => {
      // one at a time, so one stubborn namespace does not keep the others
      for (const n of ours) await ipBatch(null, [`netns del ${n}`]).catch(() => undefined);
    });
  }
  // forgotten only once gone: a namespace that could not be deleted stays on record for the next `lab down`
  const left = new Set(await listNetns());
  const still = ours.filter((n) => left.has(n));
  if (still.length > 0) {
    throw new NatscopeError(`could not delete ${still.join(', ')}`, {
      hint: `run natscope lab down again, or: ip netns del ${still[0]}`,
    });
  }
  await removeState(prefix);
  return { removed: ours };
}

function isOurHelper(pid: number): boolean {
  try {
    return readlinkSync(`/proc/${pid}/exe`) === helperPath();
  } catch {
    return false;
  }
}

// A killed process is gone once it has exited (a zombie waiting for init to reap it counts as gone).
async function waitGone(pids: number[], timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let left = pids;
  while (left.length > 0 && Date.now() < deadline) {
    left = left.filter(isRunning);
    if (left.length > 0) await sleep(20);
  }
}
