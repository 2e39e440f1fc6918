// The lab's load tool (natscope-net load), as both labs run it from their
// office host: its arguments, and its one line of JSON read back as a
// LoadResult.

import { LoadResultSchema, type LoadResult } from '../events/types.js';
import { parseJsonAs } from '../util/json.js';
import type { Target } from './lab.js';
import { helperPath } from './netns/build.js';

// What the tool prints: the result without the target's name, which natscope adds.
const ToolOutputSchema = LoadResultSchema.omit({ target: true });

// `sources`: the office addresses the connections come from, in turn.
export function loadCommand(target: Target, seconds: number, workers: number, sources: readonly string[]): string[] {
  return [
    helperPath(),
    'load',
    '--proto',
    target.proto,
    '--seconds',
    String(seconds),
    '--workers',
    String(workers),
    ...sources.flatMap((ip) => ['--src', ip]),
    target.ip,
    String(target.port),
  ];
}

export function loadResult(target: Target, stdout: string): LoadResult {
  const out = parseJsonAs(ToolOutputSchema, stdout, "the lab's load tool's result", 'rebuild it: npm run build');
  return { target: target.name, ...out };
}
