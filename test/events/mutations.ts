// Mutations of real recordings, for the fuzz test: fields replaced or
// removed at any depth (null, {}, [], strings, huge and negative numbers,
// terminal escapes, wrong types, values moved from elsewhere), lines cut
// short, duplicated, swapped, moved, dropped, garbage lines, a byte order
// mark. fast-check draws them from a seed, and shrinks a failure to the
// smallest mutation that still fails.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { z } from 'zod';
import { encodeEvent } from '../../src/events/codec.js';
import { FIXTURES, capturedKernelEvents } from '../helpers.js';

const JsonSchema = z.json();
type Json = z.infer<typeof JsonSchema>;

// Every real capture there is: the recordings, and the events the tracer
// made of the end-to-end test's bpftrace output (rewrite, counted and lost
// events, which the recordings lack).
export function corpus(): { name: string; lines: string[] }[] {
  const dir = join(FIXTURES, 'recordings');
  const recordings = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .map((f) => ({
      name: f,
      lines: readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    }));
  // a slice of its 1,800 events, to keep a run quick: the first 100 kernel events and 20 counts
  const captured = capturedKernelEvents();
  const slice = [
    ...captured.filter((e) => e.kind !== 'counted').slice(0, 100),
    ...captured.filter((e) => e.kind === 'counted').slice(0, 20),
  ].sort((a, b) => a.t - b.t);
  return [...recordings, { name: 'bpftrace/lab-all-probes.jsonl', lines: slice.map(encodeEvent) }];
}

const NASTY: Json[] = [
  null,
  {},
  [],
  '',
  '?',
  'x',
  '\u001b[2J\u001b]0;pwned\u0007',
  '\u009b31mred',
  'a\nforged line',
  '\u202eevil',
  1e308,
  -1e308,
  -1,
  -5,
  -70000,
  70000,
  65536,
  0.5,
  2 ** 53,
  -0,
  'NaN',
  'Infinity',
  true,
  false,
  '999.999.1.1',
  '010.244.2.2',
  '10.0.1',
  '1.2.3.4.5',
  'tcp',
  'ip300',
  'DNAT',
  'NETFILTER_DROP',
  'status',
  'ct-new',
  'observation',
  'reply',
  'mysql',
  'node1',
  '__proto__',
  [null],
  ['SYN', 7],
  [[]],
  { src: '1.2.3.4' },
  { ip: '10.244.2.2', port: 3306 },
  'x'.repeat(5000),
];

const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> },
);

// Values of the same type as the one they replace: events that still decode
// but carry what no live run would (escapes in names, renamed pods, port 0).
const STRINGS = [
  '',
  '?',
  '\u001b[2J\u001b]0;pwned\u0007',
  '\u009b31m',
  'line\nbreak',
  '\u202emirrored',
  'x'.repeat(300),
  'mysql',
  'nginx',
  'node1',
  'vpn',
  'office',
  '10.244.2.2',
  '10.96.207.61',
  '192.168.10.10',
  '0.0.0.0',
  '255.255.255.255',
  'DNAT',
  'SNAT',
  'UNREPLIED',
  'SEEN_REPLY',
  'NOT_SPECIFIED',
  'NO_SOCKET',
  'icmp',
  'udp',
  'ip0',
];
const NUMBERS = [0, 1, 80, 3306, 65535, 2 ** 32, 1e15, Number.MAX_SAFE_INTEGER];

export type Mutation =
  | { op: 'tweak'; line: number; path: number; pick: number }
  | { op: 'set'; line: number; path: number; value: Json }
  | { op: 'copy'; line: number; path: number; from: number; fromPath: number }
  | { op: 'delete'; line: number; path: number }
  | { op: 'truncate'; line: number; at: number }
  | { op: 'duplicate'; line: number }
  | { op: 'swap'; line: number; other: number }
  | { op: 'move'; line: number; to: number }
  | { op: 'drop'; line: number }
  | { op: 'garbage'; line: number; text: string }
  | { op: 'bom' };

const line = fc.nat({ max: 10_000 });
const path = fc.nat({ max: 10_000 });

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ op: fc.constant('tweak' as const), line, path, pick: fc.nat({ max: 1000 }) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), line, path, value }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('copy' as const), line, path, from: line, fromPath: path }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('delete' as const), line, path }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), line, at: fc.nat({ max: 2000 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), line }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap' as const), line, other: line }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('move' as const), line, to: line }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), line }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('garbage' as const),
      line,
      text: fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.constantFrom('{', '[]', '{"v":1}', '{"v":1,"kind":"nat"}', '\u0000'),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'bom' as const }) },
);

export const plan = fc.record({
  recording: fc.nat({ max: 100 }),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
});

type Key = string | number;

// Every path in a JSON value, the value itself first ([]), depth first.
function paths(v: Json, prefix: Key[] = [], out: Key[][] = []): Key[][] {
  out.push(prefix);
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) paths(x, [...prefix, i], out);
  } else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function get(v: Json, at: Key[]): Json {
  let cur: Json = v;
  for (const k of at) {
    if (Array.isArray(cur) && typeof k === 'number') cur = cur[k] ?? null;
    else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && typeof k === 'string')
      cur = cur[k] ?? null;
    else return null;
  }
  return cur;
}

// `v` with the value at `at` replaced (undefined: removed); the root itself can be replaced too.
function put(v: Json, at: Key[], next: Json | undefined): Json | undefined {
  if (at.length === 0) return next;
  const [k, ...rest] = at;
  if (Array.isArray(v) && typeof k === 'number') {
    const copy = [...v];
    const inner = put(copy[k] ?? null, rest, next);
    if (inner === undefined) copy.splice(k, 1);
    else copy[k] = inner;
    return copy;
  }
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof k === 'string') {
    const copy: { [key: string]: Json } = { ...v };
    const inner = put(copy[k] ?? null, rest, next);
    if (inner === undefined) delete copy[k];
    else copy[k] = inner;
    return copy;
  }
  return v;
}

function parsed(text: string): Json | undefined {
  try {
    return JsonSchema.parse(JSON.parse(text));
  } catch {
    return undefined;
  }
}

// A value of the same type as `v`, chosen by `pick`.
function tweaked(v: Json, pick: number): Json | undefined {
  if (typeof v === 'string') return STRINGS[pick % STRINGS.length]!;
  if (typeof v === 'number') return NUMBERS[pick % NUMBERS.length]!;
  if (typeof v === 'boolean') return !v;
  if (Array.isArray(v)) {
    if (v.length === 0 || pick % 3 === 0) return [];
    const i = pick % v.length;
    return pick % 3 === 1 ? [...v.slice(0, i), ...v.slice(i + 1)] : [...v, v[i]!];
  }
  return v;
}

// The recording's lines after the mutations, as one text.
export function mutate(lines: readonly string[], mutations: readonly Mutation[]): string {
  const out = [...lines];
  let bom = false;
  for (const m of mutations) {
    if (m.op === 'bom') {
      bom = true;
      continue;
    }
    if (out.length === 0) break;
    const i = m.line % out.length;
    const text = out[i]!;
    switch (m.op) {
      case 'tweak':
      case 'set':
      case 'delete':
      case 'copy': {
        const v = parsed(text);
        if (v === undefined) break;
        const all = paths(v);
        const at = all[m.path % all.length]!;
        let next: Json | undefined;
        if (m.op === 'tweak') next = tweaked(get(v, at), m.pick);
        else if (m.op === 'set') next = m.value;
        else if (m.op === 'delete') next = undefined;
        else {
          const source = parsed(out[m.from % out.length]!);
          if (source === undefined) break;
          const sourcePaths = paths(source);
          next = get(source, sourcePaths[m.fromPath % sourcePaths.length]!);
        }
        const changed = put(v, at, next);
        out[i] = changed === undefined ? '' : JSON.stringify(changed);
        break;
      }
      case 'truncate':
        out[i] = text.slice(0, m.at % (text.length + 1));
        break;
      case 'duplicate':
        out.splice(i, 0, text);
        break;
      case 'swap': {
        const j = m.other % out.length;
        [out[i], out[j]] = [out[j]!, text];
        break;
      }
      case 'move': {
        out.splice(i, 1);
        out.splice(m.to % (out.length + 1), 0, text);
        break;
      }
      case 'drop':
        out.splice(i, 1);
        break;
      case 'garbage':
        out.splice(i, 0, m.text);
        break;
    }
  }
  return `${bom ? '\ufeff' : ''}${out.join('\n')}\n`;
}
