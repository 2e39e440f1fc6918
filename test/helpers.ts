// Shared by the tests: the recorded fixtures, read the way natscope reads
// them, and temporary folders that go away with the tests that made them.

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, assert, onTestFinished } from 'vitest';
import { NatscopeError } from '../src/errors.js';
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

// A caught error, checked to be one natscope tells the user about (its
// message, fix and exit code) rather than a bug.
export function asNatscopeError(error: unknown): NatscopeError {
  assert.instanceOf(error, NatscopeError, 'expected a NatscopeError');
  return error;
}

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

// A folder for a test file's tests (call it at the top of the file or in a
// describe), removed after them. It is made in the run's own temporary root
// (test/globalSetup.ts points TMPDIR there).
export function testTempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The same, for one test (call it inside the test): removed when the test ends.
export function tempDirForTest(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// The named network namespaces starting with `prefix`, sorted. Until a
// program adds the first one since boot there is no /run/netns: none.
export function namedNamespaces(prefix: string): string[] {
  if (!existsSync('/run/netns')) return [];
  return readdirSync('/run/netns')
    .filter((n) => n.startsWith(prefix))
    .sort();
}
