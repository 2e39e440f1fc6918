// Runs the built CLI (dist/, built by `npm test`'s setup step) like a user would.

import { join } from 'node:path';
import { execa, type Options } from 'execa';
import type { z } from 'zod';
import { ROOT } from './helpers.js';

export const CLI = join(ROOT, 'dist', 'src', 'main.js');

export function natscope(args: string[], options: Options = {}) {
  return execa(process.execPath, [CLI, ...args], { reject: false, timeout: 120_000, ...options });
}

// What natscope printed with --json, read through the schema of what it promises to print.
export function jsonOutput<S extends z.ZodType>(schema: S, stdout: unknown): z.output<S> {
  return schema.parse(JSON.parse(String(stdout)));
}
