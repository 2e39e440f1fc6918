// The detail budget: how many events per CPU and second the probes report
// whole; past it they only count them (probes/nat.bt, "Detail budget").
// One name (`detail`) at every layer, and its rules here: a whole number of
// events per CPU and second, 0 meaning every event ("all" on the command
// line), and how it reaches the probes. Kept apart from the probes so the
// command registry can parse --detail without loading them.

import { NatscopeError } from '../errors.js';
import { isCount } from '../events/fields.js';
import { FLUSH_INTERVAL_MS } from './streams.js';

// Events each CPU reports whole per second unless told otherwise (--detail):
// far more than anyone reads live, far fewer than a busy node makes. Past
// it the probes only count. Reporting an event whole costs userspace tens of
// microseconds (bpftrace's map syscalls, natscope's parsing), counting it
// well under one in the kernel: `npm run bench` and the README have the figures.
export const DEFAULT_DETAIL_PER_SECOND = 200;

// --detail's text: events per CPU and second, or "all".
export function parseDetail(text: string): number {
  const trimmed = text.trim();
  if (trimmed === 'all') return 0;
  const n = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(n) || n < 1) {
    throw new NatscopeError(`--detail "${text}" is not a number of events or "all"`, {
      hint: `give events per CPU and second to report whole (default ${DEFAULT_DETAIL_PER_SECOND}), e.g. --detail 1000, or --detail all for every event`,
      exitCode: 2,
    });
  }
  return n;
}

// A detail budget from anywhere (a protocol client, an option): whole and ≥ 0.
export function isDetail(value: unknown): value is number {
  return isCount(value);
}

// --detail's text for a budget (what parseDetail reads back).
export function formatDetail(detail: number): string {
  return detail === 0 ? 'all' : String(detail);
}

// The probes' budget argument ($1): kept events per CPU and flush; 0 = all.
export function detailBudgetArgument(detail: number): string {
  if (detail === 0) return '0';
  return String(Math.max(1, Math.round((detail * FLUSH_INTERVAL_MS) / 1000)));
}
