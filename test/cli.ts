// Runs the built CLI (dist/, built by `npm test`'s setup step) like a user would.

import { join } from 'node:path';
import { execa, type Options } from 'execa';
import { expect } from 'vitest';
import type { z } from 'zod';
import { ROOT } from './helpers.js';

export const CLI = join(ROOT, 'dist', 'src', 'main.js');

export function natscope(args: string[], options: Options = {}) {
  return execa(process.execPath, [CLI, ...args], { reject: false, timeout: 120_000, ...options });
}

// What natscope printed with --json, read through the schema of what it
// promises to print. A field the schema does not declare fails the test too:
// the parse would drop it unseen, and a script relies on every field printed.
export function jsonOutput<S extends z.ZodType>(schema: S, stdout: unknown): z.output<S> {
  const printed: unknown = JSON.parse(String(stdout));
  const parsed = schema.parse(printed);
  expect(parsed, 'natscope printed a field its --json schema does not declare').toEqual(printed);
  return parsed;
}
