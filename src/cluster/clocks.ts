// One clock for the events of several nodes. Each kernel stamps its events
// with its own CLOCK_MONOTONIC (time since it booted): two nodes' numbers
// cannot be compared. At start natscope reads, on each node, its wall clock,
// its monotonic clock (the kernel's "now at" in /proc/timer_list: the clock
// bpftrace's nsecs reads) and its wall clock again; the middle of the two
// wall readings is taken as the moment of the monotonic one. The same is
// done here, so each node's events are moved onto this machine's monotonic
// clock through wall time. How far to trust it: half the node's reading
// window, plus however far the node's wall clock is from this machine's
// (NTP keeps them within milliseconds when it runs; natscope cannot see it).

import type { Kubectl } from './kubectl.js';
import { execArgs, type NodePod } from './nodePods.js';

export interface ClockAlignment {
  // add to a node's monotonic ns to get this machine's
  offsetNs: number;
  // half the node's reading window (ns); null when the clock could not be read
  uncertaintyNs: number | null;
}

// A fixed text: wall clock, monotonic clock, wall clock, on one line; five
// times, so that the narrowest window (the least disturbed reading) is used.
export const CLOCK_SCRIPT =
  'for i in 1 2 3 4 5; do a=$(date +%s%N); m=$(head -n 3 /proc/timer_list 2>/dev/null | sed -n "s/^now at \\([0-9]*\\) nsecs$/\\1/p"); b=$(date +%s%N); echo "$a $m $b"; done';

export interface ClockReading {
  wallBefore: bigint;
  monotonic: bigint;
  wallAfter: bigint;
}

// The narrowest of the readings CLOCK_SCRIPT printed, one a line; null if none is one.
export function bestClockReading(text: string): ClockReading | null {
  let best: ClockReading | null = null;
  for (const line of text.split('\n')) {
    const r = parseClockReading(line);
    if (r && (best === null || r.wallAfter - r.wallBefore < best.wallAfter - best.wallBefore)) best = r;
  }
  return best;
}

// "WALL MONO WALL" as CLOCK_SCRIPT prints it; null for anything else (a
// `date` without %N, no /proc/timer_list).
export function parseClockReading(text: string): ClockReading | null {
  const m = /^(\d{10,20}) (\d{1,20}) (\d{10,20})$/.exec(text.trim());
  if (!m) return null;
  const reading = { wallBefore: BigInt(m[1]!), monotonic: BigInt(m[2]!), wallAfter: BigInt(m[3]!) };
  return reading.wallAfter >= reading.wallBefore ? reading : null;
}

// This machine's wall clock minus its monotonic clock, in ns.
export function localWallMinusMonotonic(): bigint {
  const mono = process.hrtime.bigint();
  const wall = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return wall - mono;
}

export function alignment(reading: ClockReading, local = localWallMinusMonotonic()): ClockAlignment {
  const window = reading.wallAfter - reading.wallBefore;
  const wallAtReading = reading.wallBefore + window / 2n;
  const nodeWallMinusMonotonic = wallAtReading - reading.monotonic;
  return { offsetNs: Number(nodeWallMinusMonotonic - local), uncertaintyNs: Number(window / 2n) };
}

// The node's clock against this machine's; unaligned (offset 0, uncertainty unknown) if it cannot be read.
export async function readNodeClock(kubectl: Kubectl, pod: NodePod): Promise<ClockAlignment> {
  const out = await kubectl
    .run(execArgs(pod, ['sh', '-c', CLOCK_SCRIPT]), {
      what: `kubectl exec (the clock of node ${pod.node})`,
    })
    .catch(() => '');
  const reading = bestClockReading(out);
  return reading ? alignment(reading) : { offsetNs: 0, uncertaintyNs: null };
}

export function describeAlignment(node: string, clock: ClockAlignment): string {
  if (clock.uncertaintyNs === null) return `${node}: clock not read (its events keep its own monotonic time)`;
  const ms = (ns: number) => (ns / 1e6).toFixed(ns < 1e7 ? 1 : 0);
  return `${node}: ${clock.offsetNs >= 0 ? '+' : '-'}${ms(Math.abs(clock.offsetNs))} ms, ±${ms(clock.uncertaintyNs)} ms read + its wall clock's error`;
}
