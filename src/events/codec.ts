// The JSONL codec of the event stream: one event per line, versioned by `v`.
// Decoding checks what frontends rely on, so a bad recording fails on the
// line that is bad, with its number, instead of deep inside a frontend.

import { EVENT_KINDS, EVENT_VERSION, type EventKind, type NatscopeEvent } from './types.js';

export class DecodeError extends Error {
  constructor(
    readonly lineNo: number,
    readonly reason: string,
  ) {
    super(`line ${lineNo}: ${reason}`);
    this.name = 'DecodeError';
  }
}

export function encodeEvent(event: NatscopeEvent): string {
  return JSON.stringify(event);
}

const KNOWN = new Set<string>(EVENT_KINDS);

// Fields each kind must carry beyond the common ones, with their JSON type.
const REQUIRED: Record<EventKind, Record<string, 'string' | 'number' | 'boolean' | 'object'>> = {
  nat: { manip: 'string', proto: 'string', orig: 'object', reply: 'object', to: 'object', ct: 'string' },
  'ct-new': { proto: 'string', orig: 'object', reply: 'object', status: 'object', ct: 'string' },
  'ct-destroy': { proto: 'string', orig: 'object', reply: 'object', status: 'object', ct: 'string' },
  drop: { reason: 'string', reasonCode: 'number', location: 'string', packet: 'object' },
  rewrite: { manip: 'string', dir: 'string', proto: 'string', before: 'object', after: 'object' },
  lost: { probe: 'string', count: 'number', source: 'string' },
  counted: { of: 'string', count: 'number' },
  error: { message: 'string', source: 'string' },
  request: { target: 'string', via: 'string', dst: 'string', dport: 'number', outcome: 'string', latencyMs: 'number' },
  config: { kubeProxy: 'object', backend: 'string' },
  status: { state: 'string', where: 'string', probes: 'object' },
  observation: { what: 'string', subject: 'string' },
  reply: { id: 'number', ok: 'boolean' },
};

const TUPLE_FIELDS = ['orig', 'reply', 'before', 'after'] as const;

function checkTuple(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Record<string, unknown>;
  return (
    typeof t.src === 'string' && typeof t.dst === 'string' && typeof t.sport === 'number' && typeof t.dport === 'number'
  );
}

export function decodeEvent(line: string, lineNo: number): NatscopeEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    const shown = line.length > 60 ? `${line.slice(0, 60)}…` : line;
    throw new DecodeError(lineNo, `not JSON: ${JSON.stringify(shown)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DecodeError(lineNo, 'not a JSON object');
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.v !== 'number') throw new DecodeError(lineNo, 'no event version "v": not a natscope event stream');
  if (obj.v > EVENT_VERSION) {
    throw new DecodeError(
      lineNo,
      `event version ${obj.v} is newer than this natscope reads (${EVENT_VERSION}): upgrade natscope`,
    );
  }
  if (obj.v < 1) throw new DecodeError(lineNo, `event version ${obj.v} is not valid`);
  const kind = obj.kind;
  if (typeof kind !== 'string') throw new DecodeError(lineNo, 'no "kind"');
  if (!KNOWN.has(kind)) {
    throw new DecodeError(lineNo, `unknown event kind ${JSON.stringify(kind)} (known: ${EVENT_KINDS.join(', ')})`);
  }
  if (typeof obj.t !== 'number' || typeof obj.host !== 'string' || typeof obj.netns !== 'number') {
    throw new DecodeError(lineNo, `${kind} event lacks "t", "host" or "netns"`);
  }
  const required = REQUIRED[kind as EventKind];
  for (const [field, type] of Object.entries(required)) {
    const actual = obj[field];
    if (typeof actual !== type || actual === null) {
      throw new DecodeError(lineNo, `${kind} event: "${field}" should be a ${type}`);
    }
  }
  for (const field of TUPLE_FIELDS) {
    if (field in required && !checkTuple(obj[field])) {
      throw new DecodeError(lineNo, `${kind} event: "${field}" is not a tuple {src, sport, dst, dport}`);
    }
  }
  return obj as unknown as NatscopeEvent;
}
