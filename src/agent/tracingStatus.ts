// What a status event says about a tracer: attached, stopped on purpose
// (with what it saw), or stopped on its own. One wording wherever the
// parser runs (the agent's own tracer, the host's for a micro-VM).

import type { TracerSummary } from '../tracer/bpftrace.js';
import { exitedHow } from '../tracer/outcome.js';

export function attachedMessage(attachMs: number): string {
  return `probes attached in ${(attachMs / 1000).toFixed(1)} s`;
}

// `loadLeftOut`: the lab's load's events counted, not shown.
export function stoppedMessage(summary: TracerSummary, loadLeftOut: number): string {
  const counted = summary.counted ? `, ${summary.counted} counted (over the detail budget)` : '';
  const load = loadLeftOut ? `, ${loadLeftOut} of the lab's load counted, not shown` : '';
  return `tracing stopped: ${summary.received} events, ${summary.lost} lost${counted}${load}`;
}

export function ownStopMessage(summary: TracerSummary): string {
  return `bpftrace stopped on its own: ${exitedHow(summary.exitCode, summary.signal)}`;
}
