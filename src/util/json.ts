// JSON that another program printed (the lab's helper, docker, crictl) or a
// state file holds, read through the one schema of what natscope uses from
// it: a surprise becomes one clear error naming the field, never a crash
// further in, and nothing unchecked crosses the boundary.

import type { z } from 'zod';
import { NatscopeError } from '../errors.js';
import { safeText } from './terminal.js';

// A zod issue's path as a reader writes it: packet.flags[0], lab.hosts["my host"].ip
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out ? `.${key}` : key;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

// The first thing wrong with `value` against `schema`, or null when it fits.
export function firstProblem(schema: z.ZodType, value: unknown): string | null {
  const parsed = schema.safeParse(value);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0];
  const where = issue ? fieldPath(issue.path) : '';
  return `${where ? `${where}: ` : ''}${issue?.message ?? 'not valid'}`;
}

// `text` parsed as JSON and checked. `what` names the source in the error
// ("the lab's load tool's output"), `hint` is its fix.
export function parseJsonAs<S extends z.ZodType>(schema: S, text: string, what: string, hint: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new NatscopeError(`${what} is not JSON: ${safeText(JSON.stringify(text.slice(0, 120)))}`, { hint });
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new NatscopeError(`${what} is not what natscope expects: ${safeText(firstProblem(schema, value) ?? '')}`, {
    hint,
  });
}
