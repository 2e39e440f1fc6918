// The JSONL codec of the event stream: one event per line, versioned by `v`.
// Decoding checks every field against the event's schema (types.ts), at any
// depth and with its range (a time, a port, an address), so a bad recording
// fails on the line that is bad, naming the line and the field, instead of
// deep inside a frontend that trusted it.

import { z } from 'zod';
import { fieldPath } from '../util/json.js';
import { jsonLine } from '../util/terminal.js';
import { shown } from './fields.js';
import { EVENT_KINDS, EVENT_SCHEMAS, EVENT_VERSION, type NatscopeEvent } from './types.js';

export class DecodeError extends Error {
  constructor(
    readonly lineNo: number,
    readonly reason: string,
  ) {
    super(`line ${lineNo}: ${reason}`);
    this.name = 'DecodeError';
  }
}

// One line of JSON; control characters escaped (the value is the same).
export function encodeEvent(event: NatscopeEvent): string {
  return jsonLine(event);
}

// Each kind's schema compiled ahead of time (zod's fast path: a valid event
// is checked by generated code, an invalid one falls back to the ordinary
// parser, which finds the field to name). `strict` makes a schema the
// compiler cannot model fail here, at load, rather than silently run slow.
const SCHEMAS = new Map<string, z.ZodType<NatscopeEvent>>(
  Object.entries(EVENT_SCHEMAS).map(([kind, schema]) => [kind, z.compile(schema, { strict: true })]),
);

const NOUNS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'an object',
  record: 'an object',
  null: 'null',
};

// The words for a schema rule that has none of its own (a plain string, a
// list, an enum); rules with their own (fields.ts) say what they want.
function message(issue: z.core.$ZodRawIssue): string {
  const input = issue.input;
  if (issue.code === 'invalid_union' && 'discriminator' in issue && 'options' in issue) {
    const options = Array.isArray(issue.options) ? issue.options.map(String).join(', ') : '';
    const value = typeof input === 'object' && input !== null ? Reflect.get(input, String(issue.discriminator)) : input;
    return value === undefined ? 'is missing' : `should be one of ${options}, got ${shown(value)}`;
  }
  if (input === undefined) return 'is missing';
  if (issue.code === 'invalid_type') return `should be ${NOUNS[issue.expected] ?? issue.expected}, got ${shown(input)}`;
  if (issue.code === 'invalid_value') {
    const values = issue.values.map((v) => JSON.stringify(v));
    return `should be ${values.length > 1 ? `one of ${values.join(', ')}` : values[0]}, got ${shown(input)}`;
  }
  return `is not valid (${issue.code}), got ${shown(input)}`;
}

export function decodeEvent(line: string, lineNo: number): NatscopeEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    const shownLine = line.length > 60 ? `${line.slice(0, 60)}…` : line;
    throw new DecodeError(lineNo, `not JSON: ${JSON.stringify(shownLine)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DecodeError(lineNo, 'not a JSON object');
  }
  const v: unknown = Reflect.get(value, 'v');
  if (typeof v !== 'number') throw new DecodeError(lineNo, 'no event version "v": not a natscope event stream');
  if (Number.isInteger(v) && v > EVENT_VERSION) {
    throw new DecodeError(
      lineNo,
      `event version ${v} is newer than this natscope reads (${EVENT_VERSION}): upgrade natscope`,
    );
  }
  if (v !== EVENT_VERSION) throw new DecodeError(lineNo, `event version ${shown(v)} is not valid`);
  const kind: unknown = Reflect.get(value, 'kind');
  if (typeof kind !== 'string') throw new DecodeError(lineNo, 'no "kind"');
  const schema = SCHEMAS.get(kind);
  if (schema === undefined) {
    throw new DecodeError(lineNo, `unknown event kind ${shown(kind)} (known: ${EVENT_KINDS.join(', ')})`);
  }
  const result = schema.safeParse(value, { error: message });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue ? fieldPath(issue.path) : '';
  throw new DecodeError(lineNo, `${kind} event: ${where ? `${where} ` : ''}${issue?.message ?? 'is not valid'}`);
}
