// Shared by the tests: the recorded fixtures, read the way natscope reads them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEvent } from '../src/events/codec.js';
import type { CountedEvent, NatscopeEvent } from '../src/events/types.js';
import { parseBpftraceLine } from '../src/tracer/parse.js';

export const ROOT = join(import.meta.dirname, '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const RECORDING = join(FIXTURES, 'recordings', 'incident.jsonl');

export function fixtureText(...parts: string[]): string {
  return readFileSync(join(FIXTURES, ...parts), 'utf8');
}

export function recordedEvents(path = RECORDING): NatscopeEvent[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => decodeEvent(l, i + 1));
}

// The counts of events past the detail budget in the end-to-end test's
// bpftrace output (its load), as the tracer turns them into events.
export function capturedCounts(): CountedEvent[] {
  return fixtureText('bpftrace', 'lab-all-probes.jsonl')
    .split('\n')
    .map((l) => parseBpftraceLine(l, { hostOf: (n) => `ns${n}`, dropReason: String }))
    .flatMap((r) => (r.type === 'counted' ? r.events : []));
}

export const isRoot = process.getuid?.() === 0;

// Every event the tracer makes of the end-to-end test's bpftrace output
// (kernel events, counts past the detail budget), in time order.
export function capturedKernelEvents(): NatscopeEvent[] {
  return fixtureText('bpftrace', 'lab-all-probes.jsonl')
    .split('\n')
    .map((l) => parseBpftraceLine(l, { hostOf: (n) => `ns${n}`, dropReason: String }))
    .flatMap((r): NatscopeEvent[] =>
      r.type === 'batch' ? r.events.map((e) => e.event) : r.type === 'counted' ? r.events : [],
    )
    .sort((a, b) => a.t - b.t);
}
