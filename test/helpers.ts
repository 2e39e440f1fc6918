// Shared by the tests: the recorded fixtures, read the way natscope reads them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEvent } from '../src/events/codec.js';
import type { NatscopeEvent } from '../src/events/types.js';

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

export const isRoot = process.getuid?.() === 0;
