// Turns bpftrace's `-f json` output lines into typed records. The probes
// batch their events in the kernel (probes/nat.bt, "Output"): a map print of
// an event buffer becomes a batch of kernel events, a print of a count map
// (events past the detail budget) counted events, the composed program's
// flush marker ends a flush, the final dump of the sequence counters settles
// loss accounting, the rest is status or noise. Value order is the one each
// probe's header documents.

import {
  EVENT_VERSION,
  base,
  type CountedEvent,
  type DropEvent,
  type KernelEvent,
  type NatEvent,
  type RewriteEvent,
  type Tuple,
} from '../events/types.js';
import type { CtNewEvent, CtDestroyEvent } from '../events/types.js';
import { ipFromRaw, portFromRaw, protoName, tcpFlagNames } from '../events/tuple.js';

export interface ParseContext {
  // netns inode → lab host name ("?" when unknown)
  hostOf(netns: number): string;
  // enum skb_drop_reason value → name on the running kernel
  dropReason(code: number): string;
}

export type ProbeFamily = 'nat' | 'conntrack' | 'drop' | 'rewrite';

// One kernel event with where it came from: `stream` is the program that
// numbered it (conntrack has two), `cpu` and `seq` its sequence number.
export interface ProbeEvent {
  probe: ProbeFamily;
  stream: StreamName;
  cpu: number;
  seq: number;
  event: KernelEvent;
}

export type BpftraceRecord =
  | { type: 'batch'; events: ProbeEvent[] }
  | { type: 'counted'; map: string; events: CountedEvent[] }
  | { type: 'flush' }
  | { type: 'sequence'; probe: ProbeFamily; stream: StreamName; perCpu: Map<number, number> }
  | { type: 'lost'; count: number }
  | { type: 'attached'; probes: number }
  | { type: 'attach-notice' }
  | { type: 'message'; text: string }
  | { type: 'blank' }
  | { type: 'other'; value: unknown }
  | { type: 'garbage'; line: string; reason: string };

export type StreamName = 'nat' | 'ct-new' | 'ct-destroy' | 'drop' | 'rewrite';

export interface StreamInfo {
  probe: ProbeFamily;
  // per-CPU sequence counters (@x_seq[cpu])
  sequenceMap: string;
  // the two event buffers (@x_a, @x_b), keyed [cpu, seq]
  buffers: [string, string];
  // the two count maps of events past the detail budget (@x_over_a, @x_over_b),
  // keyed [netns] or [netns, by]
  counts: [string, string];
  // what a count map's second key is
  countedBy: 'manip' | 'reason' | null;
  // the per-CPU counts of events kept whole this flush, per buffer side: the
  // detail budget's. nat and conntrack share one; drops have their own, so
  // busy NAT never hides them, and so do rewrites, one per packet
  budgets: [string, string];
  // values per event, per the probe's header
  values: number;
}

// The maps the probe programs keep (see the probes' headers).
export const STREAMS: Record<StreamName, StreamInfo> = {
  nat: stream('nat', 'nat', 14, 'manip'),
  'ct-new': stream('conntrack', 'ctn', 13, null),
  'ct-destroy': stream('conntrack', 'ctd', 13, null),
  drop: stream('drop', 'drop', 11, 'reason'),
  rewrite: stream('rewrite', 'rw', 13, 'manip'),
};

function stream(probe: ProbeFamily, prefix: string, values: number, countedBy: StreamInfo['countedBy']): StreamInfo {
  const budget = probe === 'drop' ? '@drop_detail' : probe === 'rewrite' ? '@rw_detail' : '@detail';
  return {
    budgets: [`${budget}_a`, `${budget}_b`],
    probe,
    sequenceMap: `@${prefix}_seq`,
    buffers: [`@${prefix}_a`, `@${prefix}_b`],
    counts: [`@${prefix}_over_a`, `@${prefix}_over_b`],
    countedBy,
    values,
  };
}

// What the composed program prints after each flush's buffers.
export const FLUSH_MARKER = 'natscope-flush';

// What bpftrace prints once every probe is attached, when this variable is
// set: on stderr up to 0.22, on stdout, between the JSON lines, from 0.23.
export const ATTACH_NOTICE = '__BPFTRACE_NOTIFY_PROBES_ATTACHED';

const BY_SEQUENCE_MAP = new Map<string, StreamName>();
const BY_BUFFER = new Map<string, StreamName>();
const BY_COUNT_MAP = new Map<string, StreamName>();
for (const [name, info] of Object.entries(STREAMS) as [StreamName, StreamInfo][]) {
  BY_SEQUENCE_MAP.set(info.sequenceMap, name);
  for (const buffer of info.buffers) BY_BUFFER.set(buffer, name);
  for (const counts of info.counts) BY_COUNT_MAP.set(counts, name);
}

// enum ip_conntrack_status (include/uapi/linux/netfilter/nf_conntrack_common.h):
// part of the kernel's user ABI, so unlike drop reasons the bits do not move.
const STATUS_BITS = [
  'EXPECTED',
  'SEEN_REPLY',
  'ASSURED',
  'CONFIRMED',
  'SRC_NAT',
  'DST_NAT',
  'SEQ_ADJUST',
  'SRC_NAT_DONE',
  'DST_NAT_DONE',
  'DYING',
  'FIXED_TIMEOUT',
  'TEMPLATE',
  'NAT_CLASH',
  'HELPER',
  'OFFLOAD',
  'HW_OFFLOAD',
];

const statusCache = new Map<number, string[]>();

// A few status combinations recur for every connection: each is named once
// and shared (frozen: events are read, never changed).
export function statusNames(bits: number): string[] {
  let names = statusCache.get(bits);
  if (!names) {
    names = [];
    for (let i = 0; i < STATUS_BITS.length; i++) if (bits & (1 << i)) names.push(STATUS_BITS[i]!);
    Object.freeze(names);
    if (statusCache.size < 4096) statusCache.set(bits, names);
  }
  return names;
}

export function parseBpftraceLine(line: string, ctx: ParseContext): BpftraceRecord {
  if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '')) return { type: 'blank' };
  // Fast path for the event buffers (nearly all the bytes): scanned in place,
  // no JSON.parse; anything it does not expect goes the full way below.
  if (line.startsWith(MAP_PREFIX)) {
    const batch = scanBuffer(line, ctx);
    if (batch) return batch;
  }
  if (line === ATTACH_NOTICE) return { type: 'attach-notice' };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { type: 'garbage', line, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { type: 'garbage', line, reason: 'not a JSON object' };
  const { type, data } = value as { type?: unknown; data?: unknown };
  switch (type) {
    case 'printf': {
      if (typeof data !== 'string') return garbage(line, 'printf without text');
      const text = data.replace(/\n$/, '');
      return text === FLUSH_MARKER ? { type: 'flush' } : { type: 'message', text };
    }
    case 'attached_probes':
      return { type: 'attached', probes: Number((data as { probes?: unknown })?.probes ?? 0) };
    case 'lost_events':
      return { type: 'lost', count: Number((data as { events?: unknown })?.events ?? 0) };
    case 'map':
      return parseMap(data, value, line, ctx);
    default:
      return { type: 'other', value };
  }
}

function garbage(line: string, reason: string): BpftraceRecord {
  return { type: 'garbage', line, reason };
}

function parseMap(data: unknown, value: unknown, line: string, ctx: ParseContext): BpftraceRecord {
  if (typeof data !== 'object' || data === null) return { type: 'other', value };
  const entries = Object.entries(data as Record<string, unknown>);
  if (entries.length !== 1) return { type: 'other', value };
  const [name, contents] = entries[0]!;
  if (typeof contents !== 'object' || contents === null) return { type: 'other', value };
  const buffered = BY_BUFFER.get(name);
  if (buffered) return parseBuffer(buffered, contents as Record<string, unknown>, line, ctx);
  const over = BY_COUNT_MAP.get(name);
  if (over) return parseCounts(name, over, contents as Record<string, unknown>, line, ctx);
  const counted = BY_SEQUENCE_MAP.get(name);
  if (!counted) return { type: 'other', value };
  const counts = new Map<number, number>();
  for (const [cpu, n] of Object.entries(contents as Record<string, unknown>)) counts.set(Number(cpu), Number(n));
  return { type: 'sequence', probe: STREAMS[counted].probe, stream: counted, perCpu: counts };
}

// An event buffer's print: {"CPU,SEQ": [values…], …}.
function parseBuffer(
  stream: StreamName,
  entries: Record<string, unknown>,
  line: string,
  ctx: ParseContext,
): BpftraceRecord {
  const { probe, values } = STREAMS[stream];
  const events: ProbeEvent[] = [];
  const addresses = stream === 'drop' || stream === 'rewrite' ? null : addressDigits(line);
  for (const key in entries) {
    const v = entries[key];
    if (!/^\d+,\d+$/.test(key)) return garbage(line, `${stream} event key "${key}" is not CPU,SEQ`);
    const comma = key.indexOf(',');
    const cpu = Number(key.slice(0, comma));
    const seq = Number(key.slice(comma + 1));
    if (!Array.isArray(v) || v.length !== values) {
      return garbage(
        line,
        `${stream} event ${key} has ${Array.isArray(v) ? v.length : 'no'} values, expected ${values}`,
      );
    }
    const bad = badValue(v, stream === 'drop' ? DROP_LOCATION : -1);
    if (bad >= 0)
      return garbage(
        line,
        `${stream} event ${key}: value ${bad + 1} is not ${bad === DROP_LOCATION && stream === 'drop' ? 'a symbol' : 'a number'}`,
      );
    const host = ctx.hostOf(v[1] as number);
    let text = stream === 'drop' ? (v[DROP_LOCATION] as string) : '';
    if (addresses) {
      const digits = addresses.get(key);
      if (digits === undefined) return garbage(line, `${stream} event ${key}: no conntrack address`);
      text = hexOf(digits);
    }
    events.push({ probe, stream, cpu, seq, event: buildEvent(stream, v as number[], host, ctx, text) });
  }
  return { type: 'batch', events };
}

// A count map's print: {"NETNS": N, …} or {"NETNS,BY": N, …}. Stamped
// with the reader's clock (the same CLOCK_MONOTONIC as the kernel's, on the
// machine bpftrace runs on): the events were counted during the flush that
// ends now.
function parseCounts(
  map: string,
  stream: StreamName,
  entries: Record<string, unknown>,
  line: string,
  ctx: ParseContext,
): BpftraceRecord {
  const { countedBy } = STREAMS[stream];
  const keyShape = countedBy ? /^(\d+),(\d+)$/ : /^(\d+)$/;
  const events: CountedEvent[] = [];
  for (const key in entries) {
    const m = keyShape.exec(key);
    const count = entries[key];
    if (!m)
      return garbage(
        line,
        `${stream} count key "${key}" is not ${countedBy ? `NETNS,${countedBy.toUpperCase()}` : 'NETNS'}`,
      );
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
      return garbage(line, `${stream} count for "${key}" is not a count`);
    const netns = Number(m[1]);
    const code = m[2] === undefined ? 0 : Number(m[2]);
    const by =
      countedBy === 'manip' ? (code === 1 ? 'DNAT' : 'SNAT') : countedBy === 'reason' ? ctx.dropReason(code) : null;
    events.push({ ...base('counted', ctx.hostOf(netns), netns), of: stream, by, count });
  }
  return { type: 'counted', map, events };
}

// The conntrack address (third value of nat and ct-* events) is a kernel
// pointer above 2^53, which JSON.parse rounds: its digits are read from the
// line itself, per key.
const ADDRESS = /"(\d+,\d+)":\s*\[\s*\d+\s*,\s*\d+\s*,\s*(\d+)/g;

function addressDigits(line: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of line.matchAll(ADDRESS)) found.set(m[1]!, m[2]!);
  return found;
}

// Index of the first value of the wrong type, or -1. Only the drop's
// location is text (bpftrace resolves the ksym when printing).
function badValue(v: unknown[], textIndex: number): number {
  for (let i = 0; i < v.length; i++) {
    if (i === textIndex ? typeof v[i] !== 'string' : typeof v[i] !== 'number') return i;
  }
  return -1;
}

const DROP_LOCATION = 3;
// nat and ct-* events: the conntrack address
const CT_ADDRESS = 2;

// Decimal digits text[from, to) of an unsigned 64-bit number → hex, exactly
// (a double holds 53 bits; BigInt costs an allocation per event): the value
// is kept in four 16-bit limbs while the digits are multiplied in.
export function hexOf(text: string, from = 0, to = text.length): string {
  let l0 = 0;
  let l1 = 0;
  let l2 = 0;
  let l3 = 0;
  for (let i = from; i < to; i++) {
    l0 = l0 * 10 + (text.charCodeAt(i) - 48);
    l1 = l1 * 10 + (l0 >>> 16);
    l0 &= 0xffff;
    l2 = l2 * 10 + (l1 >>> 16);
    l1 &= 0xffff;
    l3 = (l3 * 10 + (l2 >>> 16)) & 0xffff;
    l2 &= 0xffff;
  }
  const hi = l3 * 0x10000 + l2;
  const lo = (l1 * 0x10000 + l0).toString(16);
  return hi === 0 ? lo : hi.toString(16) + lo.padStart(8, '0');
}

const MAP_PREFIX = '{"type": "map", "data": {"';

// Scanner state for the fast path: the hot loop allocates only the events.
let at = 0;
const scanned: number[] = new Array(16).fill(0);

function skipSpace(line: string): void {
  while (line.charCodeAt(at) === 32) at++;
}

// `c` (after spaces) or fail.
function take(line: string, c: number): boolean {
  skipSpace(line);
  if (line.charCodeAt(at) !== c) return false;
  at++;
  return true;
}

// A run of decimal digits as a number (-1 if none).
function integer(line: string): number {
  const start = at;
  let n = 0;
  for (let c = line.charCodeAt(at) - 48; c >= 0 && c <= 9; c = line.charCodeAt(++at) - 48) n = n * 10 + c;
  return at === start ? -1 : n;
}

const QUOTE = 34;
const COMMA = 44;
const COLON = 58;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

// An event buffer's print read straight from the text:
// {"type": "map", "data": {"@x_a": {"CPU,SEQ": [v, …], …}}}. Returns null
// for anything unexpected (an escaped string, a stray type, other spacing):
// the caller then parses the line in full and names what is wrong.
function scanBuffer(line: string, ctx: ParseContext): BpftraceRecord | null {
  const nameEnd = line.indexOf('"', MAP_PREFIX.length);
  const stream = nameEnd < 0 ? undefined : BY_BUFFER.get(line.slice(MAP_PREFIX.length, nameEnd));
  if (stream === undefined) return null;
  const { probe, values } = STREAMS[stream];
  const textIndex = stream === 'drop' ? DROP_LOCATION : stream === 'rewrite' ? -1 : CT_ADDRESS;
  at = nameEnd + 1;
  if (!take(line, COLON) || !take(line, OPEN_BRACE)) return null;
  const events: ProbeEvent[] = [];
  skipSpace(line);
  if (line.charCodeAt(at) === CLOSE_BRACE) at++;
  else {
    for (;;) {
      if (!take(line, QUOTE)) return null;
      const cpu = integer(line);
      if (cpu < 0 || !take(line, COMMA)) return null;
      const seq = integer(line);
      if (seq < 0 || !take(line, QUOTE) || !take(line, COLON) || !take(line, OPEN_BRACKET)) return null;
      let text = '';
      let count = 0;
      for (;;) {
        skipSpace(line);
        if (count === textIndex && stream === 'drop') {
          if (line.charCodeAt(at) !== QUOTE) return null;
          const end = line.indexOf('"', at + 1);
          if (end < 0) return null;
          text = line.slice(at + 1, end);
          if (text.includes('\\')) return null;
          at = end + 1;
          scanned[count] = 0;
        } else {
          const start = at;
          const n = integer(line);
          if (n < 0) return null;
          if (count === textIndex) text = hexOf(line, start, at);
          if (count < scanned.length) scanned[count] = n;
        }
        count++;
        if (take(line, COMMA)) continue;
        if (take(line, CLOSE_BRACKET)) break;
        return null;
      }
      if (count !== values) return null;
      events.push({ probe, stream, cpu, seq, event: buildEvent(stream, scanned, ctx.hostOf(scanned[1]!), ctx, text) });
      if (take(line, COMMA)) continue;
      if (take(line, CLOSE_BRACE)) break;
      return null;
    }
  }
  if (!take(line, CLOSE_BRACE) || !take(line, CLOSE_BRACE)) return null;
  skipSpace(line);
  return at === line.length ? { type: 'batch', events } : null;
}

// one builder per kind keeps each object shape in its own, monomorphic function
// `text` is the event's one non-number: the conntrack address in hex (nat,
// ct-*) or the drop's location symbol.
function buildEvent(stream: StreamName, v: number[], host: string, ctx: ParseContext, text: string): KernelEvent {
  switch (stream) {
    case 'nat':
      return natEvent(v, host, text);
    case 'ct-new':
    case 'ct-destroy':
      return conntrackEvent(stream, v, host, text);
    case 'drop':
      return dropEvent(v, host, ctx, text);
    default:
      return rewriteEvent(v, host);
  }
}

// Only TCP, UDP and SCTP have ports; for ICMP the same tuple fields hold the
// echo id and type/code, which are not shown as ports.
function hasPorts(l4: number): boolean {
  return l4 === 6 || l4 === 17 || l4 === 132;
}

function tuple(f: number[], i: number, l4: number): Tuple {
  const ports = hasPorts(l4);
  return {
    src: ipFromRaw(f[i]!),
    sport: ports ? portFromRaw(f[i + 1]!) : 0,
    dst: ipFromRaw(f[i + 2]!),
    dport: ports ? portFromRaw(f[i + 3]!) : 0,
  };
}

// The builders read an event's values in the order of its probe's header.
// nat: T NETNS CT MANIP L4 OSRC OSPORT ODST ODPORT RSRC RSPORT RDST RDPORT VERDICT
function natEvent(v: number[], host: string, ct: string): NatEvent {
  const manip = v[3] === 1 ? 'DNAT' : 'SNAT';
  const l4 = v[4]!;
  const orig = tuple(v, 5, l4);
  const reply = tuple(v, 9, l4);
  return {
    v: EVENT_VERSION,
    kind: 'nat',
    t: v[0]!,
    host,
    netns: v[1]!,
    manip,
    proto: protoName(l4),
    orig,
    reply,
    // DNAT rewrote where the packet goes (the reply's source); SNAT where it comes from (the reply's destination)
    to: manip === 'DNAT' ? { ip: reply.src, port: reply.sport } : { ip: reply.dst, port: reply.dport },
    ct,
    accepted: v[13] === 1,
  };
}

// ct-new, ct-destroy: T NETNS CT STATUS L4 OSRC OSPORT ODST ODPORT RSRC RSPORT RDST RDPORT
function conntrackEvent(
  kind: 'ct-new' | 'ct-destroy',
  v: number[],
  host: string,
  ct: string,
): CtNewEvent | CtDestroyEvent {
  const l4 = v[4]!;
  return {
    v: EVENT_VERSION,
    kind,
    t: v[0]!,
    host,
    netns: v[1]!,
    proto: protoName(l4),
    orig: tuple(v, 5, l4),
    reply: tuple(v, 9, l4),
    status: statusNames(v[3]!),
    ct,
  } as CtNewEvent | CtDestroyEvent;
}

// drop: T NETNS REASON LOCATION L4 SRC SPORT DST DPORT TCPFLAGS IFINDEX
function dropEvent(v: number[], host: string, ctx: ParseContext, location: string): DropEvent {
  const code = v[2]!;
  const l4 = v[4]!;
  return {
    v: EVENT_VERSION,
    kind: 'drop',
    t: v[0]!,
    host,
    netns: v[1]!,
    reason: ctx.dropReason(code),
    reasonCode: code,
    location,
    packet: {
      proto: protoName(l4),
      src: ipFromRaw(v[5]!),
      sport: portFromRaw(v[6]!),
      dst: ipFromRaw(v[7]!),
      dport: portFromRaw(v[8]!),
      flags: l4 === 6 ? tcpFlagNames(v[9]!) : [],
    },
    ifindex: v[10]!,
  };
}

// rewrite: T NETNS MANIP DIR L4 BSRC BSPORT BDST BDPORT ASRC ASPORT ADST ADPORT
function rewriteEvent(v: number[], host: string): RewriteEvent {
  const l4 = v[4]!;
  return {
    v: EVENT_VERSION,
    kind: 'rewrite',
    t: v[0]!,
    host,
    netns: v[1]!,
    manip: v[2] === 1 ? 'DNAT' : 'SNAT',
    dir: v[3] === 1 ? 'reply' : 'orig',
    proto: protoName(l4),
    before: tuple(v, 5, l4),
    after: tuple(v, 9, l4),
  };
}
