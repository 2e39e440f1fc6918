// What the overhead benchmark (overhead.ts, run in the micro-VM) writes to
// the shared folder and `npm run bench` (run.ts) reads back on the host:
// one schema for both sides of that file.

import { z } from 'zod';
import { amount, count } from '../../src/events/fields.js';

export const TRACED = ['natscope', 'natscopeAll', 'conntrackE', 'tcpdump', 'hooksOnly'] as const;
export type Traced = (typeof TRACED)[number];
export const TRACER_COSTS = ['bpfUs', 'bpftraceUs', 'natscopeUs'] as const;
export type TracerCost = (typeof TRACER_COSTS)[number];

const amounts = z.array(amount);

export const OverheadResultSchema = z.object({
  // one measured window's length
  seconds: amount,
  // connections/s: the mean of the rounds, and every round
  rates: z.record(z.enum(['none', ...TRACED]), amount),
  runs: z.record(z.enum(['none', ...TRACED]), amounts),
  // per round, against the same round's untraced rate
  ratios: z.record(z.enum(TRACED), amounts),
  // (b): events reported whole and events counted past the detail budget
  natscopeEvents: count,
  natscopeCounted: count,
  // CPU µs per connection, per round
  cost: z.record(z.enum(['untracedUs', ...TRACER_COSTS]), amounts),
  costAll: z.record(z.enum(TRACER_COSTS), amounts),
  natscopeLost: count,
  attachMs: amount,
  loss: z.object({
    received: count,
    lost: count,
    bpftraceReported: count,
    // one real lost event of each source, for docs/events.md (read as it is, not shown)
    firstLost: z.record(z.string(), z.unknown()),
  }),
});
export type OverheadResult = z.infer<typeof OverheadResultSchema>;
