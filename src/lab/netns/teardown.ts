// Takes a lab down: stops the processes inside its namespaces (the pods,
// a load generator), then deletes the namespaces. A namespace is deleted
// only if it has one of the lab's names AND carries natscope's mark
// (mark.ts), so this also undoes a lab whose `up` was killed half-way, or
// whose state is gone, and never touches a namespace natscope did not make,
// whatever a state file says.

import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../../errors.js';
import { isRunning } from '../../util/process.js';
import { helperPath, namespacesAdded } from './build.js';
import { ipBatch, listNetns, netnsPids } from './exec.js';
import { markedNamespaces } from './mark.js';
import { readState, removeState } from './state.js';
import { labNamespaces } from './topology.js';

export interface Teardown {
  removed: string[];
  // listed in the lab's state, but without natscope's mark: left alone
  unmarked: string[];
}

export async function teardownLab(prefix: string): Promise<Teardown> {
  // a namespace still being added (and marked) would be missed
  await namespacesAdded();
  const state = await readState(prefix);
  const existing = new Set(await listNetns());
  const present = labNamespaces(prefix).filter((n) => existing.has(n));
  const marked = await markedNamespaces(prefix, present);
  const ours = present.filter((n) => marked.has(n));
  const unmarked = state ? present.filter((n) => !marked.has(n)) : [];
  // the lab's own programs (pods, load generators) die with it; anything
  // else someone ran in a lab namespace keeps running (only the name goes)
  const pids = (await netnsPids(ours)).filter((pid) => isOurHelper(pid));
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
  return { removed: ours, unmarked };
}

// The helper itself, or `ip netns exec <ns> <helper> …` about to become it.
function isOurHelper(pid: number): boolean {
  try {
    if (readlinkSync(`/proc/${pid}/exe`) === helperPath()) return true;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return basename(argv[0] ?? '') === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' && argv[4] === helperPath();
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
