// Turns bpftrace's `-f json` output lines into typed records. The probes
// batch their events in the kernel (probes/nat.bt, "Output"): a map print of
// an event buffer becomes a batch of kernel events, a print of a count map
// (events past the detail budget) counted events, the composed program's
// flush marker ends a flush, the final dump of the sequence counters settles
// loss accounting, the rest is status or noise. Values are read by the
// field names src/tracer/streams.ts declares.

import {
  EVENT_VERSION,
  base,
  type CountedEvent,
  type CtDestroyEvent,
  type CtNewEvent,
  type DropEvent,
  type KernelEvent,
  type NatEvent,
  type RewriteEvent,
  type Tuple,
} from '../events/types.js';
import { isCount, MAX_INODE, MAX_U64 } from '../events/fields.js';
import { ipFromRaw, portFromRaw, protoName, tcpFlagNames } from '../events/tuple.js';
import {
  CONNTRACK,
  DROP,
  FLUSH_MARKER,
  NAT,
  type ProbeFamily,
  REWRITE,
  STREAMS,
  type StreamInfo,
  type StreamName,
} from './streams.js';

export type { ProbeFamily, StreamName } from './streams.js';

export interface ParseContext {
  // netns inode → lab host name ("?" when unknown)
  hostOf(netns: number): string;
  // enum skb_drop_reason value → name on the running kernel
  dropReason(code: number): string;
  // the clock of natscope's own stamps (counts read, until their flush's
  // marker stamps them with its time), as bpftrace's nsecs there (default:
  // this machine's; a micro-VM's bpftrace read on the host: the guest's; a
  // cluster node's: the node's)
  now?(): number;
}

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
  // `at`: the kernel's time of the tick that printed the flush, `handedAt`:
  // of the hand-over before it (null: a marker without it, an older
  // recording's, or with one that cannot be: `unusable` says why)
  | { type: 'flush'; at: number | null; handedAt: number | null; unusable?: string }
  | { type: 'sequence'; probe: ProbeFamily; stream: StreamName; perCpu: Map<number, number> }
  | { type: 'lost'; count: number }
  | { type: 'attached'; probes: number }
  | { type: 'attach-notice' }
  | { type: 'message'; text: string }
  | { type: 'blank' }
  | { type: 'other'; value: unknown }
  | { type: 'garbage'; line: string; reason: string };

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

// Bounds on what the output may say, past which a line is garbage, not data:
// the kernel numbers CPUs below NR_CPUS (at most 8192), a network namespace
// by a 32-bit inode number (MAX_INODE); counts and sequence numbers stay exact
// only up to 2^53 in a double (isCount); every value an event carries is a
// kernel integer of at most 64 bits, never negative (a time past 2^53 ns, on a
// machine up 104 days, is held to a few nanoseconds).
const MAX_CPU = 8191;
const isValue = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_U64;

// A field of a parsed JSON value (undefined if it is not an object or has no such field of its own).
function fieldOf(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && Object.hasOwn(value, name)
    ? Reflect.get(value, name)
    : undefined;
}

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
  const data = fieldOf(value, 'data');
  switch (fieldOf(value, 'type')) {
    case 'printf': {
      if (typeof data !== 'string') return garbage(line, 'printf without text');
      const text = data.replace(/\n$/, '');
      return flushMarker(text, line) ?? { type: 'message', text };
    }
    case 'attached_probes': {
      const probes = fieldOf(data, 'probes');
      return isCount(probes) ? { type: 'attached', probes } : garbage(line, 'attached_probes without a count');
    }
    case 'lost_events': {
      const events = fieldOf(data, 'events');
      return isCount(events) ? { type: 'lost', count: events } : garbage(line, 'lost_events without a count');
    }
    case 'map':
      return parseMap(data, value, line, ctx);
    default:
      return { type: 'other', value };
  }
}

const TIMED_MARKER = new RegExp(`^${FLUSH_MARKER} (\\d+)(?: (\\d+))?$`);

// The flush marker with its tick's and its hand-over's times, or older
// recordings' with the tick's alone or no time; null if `text` is another message.
function flushMarker(text: string, line: string): BpftraceRecord | null {
  if (text === FLUSH_MARKER) return { type: 'flush', at: null, handedAt: null };
  const m = TIMED_MARKER.exec(text);
  if (!m) return null;
  const at = Number(m[1]);
  if (!isValue(at)) return garbage(line, 'flush marker time is not a kernel integer');
  if (m[2] === undefined) return { type: 'flush', at, handedAt: null };
  const handedAt = Number(m[2]);
  // the flush still ends here; without its hand-over it says less (as an older recording's)
  if (!isValue(handedAt))
    return { type: 'flush', at, handedAt: null, unusable: 'flush marker hand-over is not a kernel integer' };
  // the hand-over is a tick before the print
  if (handedAt >= at)
    return { type: 'flush', at, handedAt: null, unusable: 'flush marker hand-over is not before its tick' };
  return { type: 'flush', at, handedAt };
}

function garbage(line: string, reason: string): BpftraceRecord {
  return { type: 'garbage', line, reason };
}

function parseMap(data: unknown, value: unknown, line: string, ctx: ParseContext): BpftraceRecord {
  if (typeof data !== 'object' || data === null) return { type: 'other', value };
  const maps = Object.entries(data);
  if (maps.length !== 1) return { type: 'other', value };
  const [name, contents] = maps[0]!;
  if (typeof contents !== 'object' || contents === null) return { type: 'other', value };
  const entries: [string, unknown][] = Object.entries(contents);
  const buffered = BY_BUFFER.get(name);
  if (buffered) return parseBuffer(buffered, entries, line, ctx);
  const over = BY_COUNT_MAP.get(name);
  if (over) return parseCounts(name, over, entries, line, ctx);
  const counted = BY_SEQUENCE_MAP.get(name);
  if (!counted) return { type: 'other', value };
  // a probe's last sequence number on each CPU: {"CPU": N, …}
  const counts = new Map<number, number>();
  for (const [key, n] of entries) {
    const cpu = /^\d{1,4}$/.test(key) ? Number(key) : -1;
    if (cpu < 0 || cpu > MAX_CPU) return garbage(line, `${counted} sequence key "${key}" is not a CPU`);
    if (!isCount(n)) return garbage(line, `${counted} sequence number for CPU ${cpu} is not a count`);
    counts.set(cpu, n);
  }
  return { type: 'sequence', probe: STREAMS[counted].probe, stream: counted, perCpu: counts };
}

// An event buffer's print: {"CPU,SEQ": [values…], …}.
function parseBuffer(
  stream: StreamName,
  entries: [string, unknown][],
  line: string,
  ctx: ParseContext,
): BpftraceRecord {
  const info = STREAMS[stream];
  const values = info.fields.length;
  const events: ProbeEvent[] = [];
  const symbol = stream === 'drop';
  const addresses = info.textField >= 0 && !symbol ? addressDigits(line, info.textField) : null;
  for (const [key, v] of entries) {
    if (!/^\d+,\d+$/.test(key)) return garbage(line, `${stream} event key "${key}" is not CPU,SEQ`);
    const comma = key.indexOf(',');
    const cpu = Number(key.slice(0, comma));
    const seq = Number(key.slice(comma + 1));
    if (cpu > MAX_CPU) return garbage(line, `${stream} event ${key}: CPU ${cpu} is past the kernel's limit`);
    if (!Number.isSafeInteger(seq)) return garbage(line, `${stream} event ${key}: the sequence number is past 2^53`);
    if (!Array.isArray(v) || v.length !== values) {
      return garbage(
        line,
        `${stream} event ${key} has ${Array.isArray(v) ? v.length : 'no'} values, expected ${values}`,
      );
    }
    const numbers: number[] = [];
    let text = '';
    for (let i = 0; i < values; i++) {
      const value: unknown = v[i];
      if (symbol && i === info.textField) {
        if (typeof value !== 'string')
          return garbage(line, `${stream} event ${key}: ${info.fields[i]} is not a symbol`);
        text = value;
        numbers.push(0);
      } else if (isValue(value)) numbers.push(value);
      else return garbage(line, `${stream} event ${key}: ${info.fields[i]} is not a kernel integer`);
    }
    if (numbers[NAT.netns]! > MAX_INODE) return garbage(line, `${stream} event ${key}: netns is not a namespace inode`);
    if (addresses) {
      const digits = addresses.get(key);
      if (digits === undefined) return garbage(line, `${stream} event ${key}: no conntrack address`);
      text = hexOf(digits);
    }
    events.push({
      probe: info.probe,
      stream,
      cpu,
      seq,
      event: buildEvent(stream, numbers, ctx.hostOf(numbers[NAT.netns]!), ctx, text),
    });
  }
  return { type: 'batch', events };
}

// A count map's print: {"NETNS": N, …} or {"NETNS,BY": N, …}. Stamped
// with the reader's clock (the same CLOCK_MONOTONIC as the kernel's, on the
// machine bpftrace runs on): the events were counted during the flush that
// ends now. The flush's marker, if it has a time, stamps them with it
// (FlushAssembler); the exit dump's and older captures' keep this one.
function parseCounts(
  map: string,
  stream: StreamName,
  entries: [string, unknown][],
  line: string,
  ctx: ParseContext,
): BpftraceRecord {
  const { countedBy } = STREAMS[stream];
  const keyShape = countedBy ? /^(\d+),(\d+)$/ : /^(\d+)$/;
  const events: CountedEvent[] = [];
  for (const [key, count] of entries) {
    const m = keyShape.exec(key);
    if (!m)
      return garbage(
        line,
        `${stream} count key "${key}" is not ${countedBy ? `NETNS,${countedBy.toUpperCase()}` : 'NETNS'}`,
      );
    if (!isCount(count)) return garbage(line, `${stream} count for "${key}" is not a count`);
    const netns = Number(m[1]);
    if (netns > MAX_INODE) return garbage(line, `${stream} count for "${key}": ${netns} is not a namespace inode`);
    const code = m[2] === undefined ? 0 : Number(m[2]);
    const by =
      countedBy === 'manip' ? (code === 1 ? 'DNAT' : 'SNAT') : countedBy === 'reason' ? ctx.dropReason(code) : null;
    events.push({ ...base('counted', ctx.hostOf(netns), netns, ctx.now?.()), of: stream, by, count, cause: 'detail' });
  }
  return { type: 'counted', map, events };
}

// The conntrack address (the `ct` value of nat and ct-* events) is a kernel
// pointer above 2^53, which JSON.parse rounds: its digits are read from the
// line itself, per key.
const ADDRESS_PATTERNS = new Map<number, RegExp>();

function addressDigits(line: string, index: number): Map<string, string> {
  let pattern = ADDRESS_PATTERNS.get(index);
  if (!pattern) {
    pattern = new RegExp(`"(\\d+,\\d+)":\\s*\\[${'\\s*\\d+\\s*,'.repeat(index)}\\s*(\\d+)`, 'g');
    ADDRESS_PATTERNS.set(index, pattern);
  }
  const found = new Map<string, string>();
  for (const m of line.matchAll(pattern)) found.set(m[1]!, m[2]!);
  return found;
}

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
  // a kernel address (above 2^63 on x86-64 and arm64) has all sixteen hex
  // digits: one string, built from its character codes (toString(16) and
  // padding cost four strings and four times the time)
  if (l3 >= 0x1000) {
    const d = HEX_DIGITS;
    return String.fromCharCode(
      d[l3 >>> 12]!,
      d[(l3 >>> 8) & 15]!,
      d[(l3 >>> 4) & 15]!,
      d[l3 & 15]!,
      d[l2 >>> 12]!,
      d[(l2 >>> 8) & 15]!,
      d[(l2 >>> 4) & 15]!,
      d[l2 & 15]!,
      d[l1 >>> 12]!,
      d[(l1 >>> 8) & 15]!,
      d[(l1 >>> 4) & 15]!,
      d[l1 & 15]!,
      d[l0 >>> 12]!,
      d[(l0 >>> 8) & 15]!,
      d[(l0 >>> 4) & 15]!,
      d[l0 & 15]!,
    );
  }
  const hi = l3 * 0x10000 + l2;
  const lo = (l1 * 0x10000 + l0).toString(16);
  return hi === 0 ? lo : hi.toString(16) + lo.padStart(8, '0');
}

const HEX_DIGITS = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

const MAP_PREFIX = '{"type": "map", "data": {"';

const SPACE = 32;
const QUOTE = 34;
const COMMA = 44;
const ZERO = 48;
const COLON = 58;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;

// An event buffer's print read straight from the text:
// {"type": "map", "data": {"@x_a": {"CPU,SEQ": [v, …], …}}}. Returns null
// for anything unexpected (an escaped string, a stray type, other spacing):
// the caller then parses the line in full and names what is wrong.
// The position is a local number and every character is read in this
// function's own loops: read through a cursor object's methods or small
// helpers, the compiler left many of the line's reads to calls (the parse
// took over a third more instructions).
function scanBuffer(line: string, ctx: ParseContext): BpftraceRecord | null {
  const nameEnd = line.indexOf('"', MAP_PREFIX.length);
  const stream = nameEnd < 0 ? undefined : BY_BUFFER.get(line.slice(MAP_PREFIX.length, nameEnd));
  if (stream === undefined) return null;
  const info = STREAMS[stream];
  const values = info.fields.length;
  // the one value that is not a plain number: the drop's symbol, or the conntrack address (-1: none)
  const symbolAt = stream === 'drop' ? info.textField : -1;
  const addressAt = stream === 'drop' ? -1 : info.textField;
  // the builders copy what they keep: one array serves every event of the line
  const numbers: number[] = new Array(values).fill(0);
  const events: ProbeEvent[] = [];
  let at = nameEnd + 1;
  while (line.charCodeAt(at) === SPACE) at++;
  if (line.charCodeAt(at++) !== COLON) return null;
  while (line.charCodeAt(at) === SPACE) at++;
  if (line.charCodeAt(at++) !== OPEN_BRACE) return null;
  while (line.charCodeAt(at) === SPACE) at++;
  if (line.charCodeAt(at) === CLOSE_BRACE) at++;
  else {
    for (;;) {
      // "CPU,SEQ": [
      while (line.charCodeAt(at) === SPACE) at++;
      if (line.charCodeAt(at++) !== QUOTE) return null;
      let start = at;
      let cpu = 0;
      for (let d = line.charCodeAt(at) - ZERO; d >= 0 && d <= 9; d = line.charCodeAt(++at) - ZERO) cpu = cpu * 10 + d;
      if (at === start || cpu > MAX_CPU) return null;
      while (line.charCodeAt(at) === SPACE) at++;
      if (line.charCodeAt(at++) !== COMMA) return null;
      start = at;
      let seq = 0;
      for (let d = line.charCodeAt(at) - ZERO; d >= 0 && d <= 9; d = line.charCodeAt(++at) - ZERO) seq = seq * 10 + d;
      // out of bounds: the full parse below names what is wrong
      if (at === start || !Number.isSafeInteger(seq)) return null;
      while (line.charCodeAt(at) === SPACE) at++;
      if (line.charCodeAt(at++) !== QUOTE) return null;
      while (line.charCodeAt(at) === SPACE) at++;
      if (line.charCodeAt(at++) !== COLON) return null;
      while (line.charCodeAt(at) === SPACE) at++;
      if (line.charCodeAt(at++) !== OPEN_BRACKET) return null;
      // its values, each followed by `,` or `]`
      let text = '';
      let count = 0;
      for (;;) {
        while (line.charCodeAt(at) === SPACE) at++;
        if (count >= values) return null;
        if (count === symbolAt) {
          // a string without escapes
          if (line.charCodeAt(at) !== QUOTE) return null;
          const end = line.indexOf('"', at + 1);
          if (end < 0) return null;
          text = line.slice(at + 1, end);
          if (text.includes('\\')) return null;
          at = end + 1;
          numbers[count] = 0;
        } else {
          start = at;
          let n = 0;
          for (let d = line.charCodeAt(at) - ZERO; d >= 0 && d <= 9; d = line.charCodeAt(++at) - ZERO) n = n * 10 + d;
          if (at === start || n > MAX_U64) return null;
          if (count === addressAt) text = hexOf(line, start, at);
          numbers[count] = n;
        }
        count++;
        while (line.charCodeAt(at) === SPACE) at++;
        const c = line.charCodeAt(at++);
        if (c === COMMA) continue;
        if (c === CLOSE_BRACKET) break;
        return null;
      }
      if (count !== values) return null;
      const netns = numbers[NAT.netns]!;
      if (netns > MAX_INODE) return null;
      const host = ctx.hostOf(netns);
      events.push({ probe: info.probe, stream, cpu, seq, event: buildEvent(stream, numbers, host, ctx, text) });
      while (line.charCodeAt(at) === SPACE) at++;
      const c = line.charCodeAt(at++);
      if (c === COMMA) continue;
      if (c === CLOSE_BRACE) break;
      return null;
    }
  }
  while (line.charCodeAt(at) === SPACE) at++;
  if (line.charCodeAt(at++) !== CLOSE_BRACE) return null;
  while (line.charCodeAt(at) === SPACE) at++;
  if (line.charCodeAt(at++) !== CLOSE_BRACE) return null;
  while (line.charCodeAt(at) === SPACE) at++;
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

// A tuple from four values, given their indices: addresses as raw __be32,
// ports as raw __be16.
function tuple(v: number[], src: number, sport: number, dst: number, dport: number, l4: number): Tuple {
  const ports = hasPorts(l4);
  return {
    src: ipFromRaw(v[src]!),
    sport: ports ? portFromRaw(v[sport]!) : 0,
    dst: ipFromRaw(v[dst]!),
    dport: ports ? portFromRaw(v[dport]!) : 0,
  };
}

function natEvent(v: number[], host: string, ct: string): NatEvent {
  const manip = v[NAT.manip] === 1 ? 'DNAT' : 'SNAT';
  const l4 = v[NAT.l4]!;
  const orig = tuple(v, NAT.osrc, NAT.osport, NAT.odst, NAT.odport, l4);
  const reply = tuple(v, NAT.rsrc, NAT.rsport, NAT.rdst, NAT.rdport, l4);
  return {
    v: EVENT_VERSION,
    kind: 'nat',
    t: v[NAT.t]!,
    host,
    netns: v[NAT.netns]!,
    manip,
    proto: protoName(l4),
    orig,
    reply,
    // DNAT rewrote where the packet goes (the reply's source); SNAT where it comes from (the reply's destination)
    to: manip === 'DNAT' ? { ip: reply.src, port: reply.sport } : { ip: reply.dst, port: reply.dport },
    ct,
    accepted: v[NAT.verdict] === 1,
  };
}

function conntrackEvent(
  kind: 'ct-new' | 'ct-destroy',
  v: number[],
  host: string,
  ct: string,
): CtNewEvent | CtDestroyEvent {
  const l4 = v[CONNTRACK.l4]!;
  // one literal for both kinds: one object shape, built in place (no spread of a second object)
  return {
    v: EVENT_VERSION,
    kind,
    t: v[CONNTRACK.t]!,
    host,
    netns: v[CONNTRACK.netns]!,
    proto: protoName(l4),
    orig: tuple(v, CONNTRACK.osrc, CONNTRACK.osport, CONNTRACK.odst, CONNTRACK.odport, l4),
    reply: tuple(v, CONNTRACK.rsrc, CONNTRACK.rsport, CONNTRACK.rdst, CONNTRACK.rdport, l4),
    status: statusNames(v[CONNTRACK.status]!),
    ct,
  };
}

function dropEvent(v: number[], host: string, ctx: ParseContext, location: string): DropEvent {
  const code = v[DROP.reason]!;
  const l4 = v[DROP.l4]!;
  return {
    v: EVENT_VERSION,
    kind: 'drop',
    t: v[DROP.t]!,
    host,
    netns: v[DROP.netns]!,
    reason: ctx.dropReason(code),
    reasonCode: code,
    location,
    packet: {
      proto: protoName(l4),
      src: ipFromRaw(v[DROP.src]!),
      sport: portFromRaw(v[DROP.sport]!),
      dst: ipFromRaw(v[DROP.dst]!),
      dport: portFromRaw(v[DROP.dport]!),
      flags: l4 === 6 ? tcpFlagNames(v[DROP.tcpflags]!) : [],
    },
    ifindex: v[DROP.ifindex]!,
  };
}

function rewriteEvent(v: number[], host: string): RewriteEvent {
  const l4 = v[REWRITE.l4]!;
  return {
    v: EVENT_VERSION,
    kind: 'rewrite',
    t: v[REWRITE.t]!,
    host,
    netns: v[REWRITE.netns]!,
    manip: v[REWRITE.manip] === 1 ? 'DNAT' : 'SNAT',
    dir: v[REWRITE.dir] === 1 ? 'reply' : 'orig',
    proto: protoName(l4),
    before: tuple(v, REWRITE.bsrc, REWRITE.bsport, REWRITE.bdst, REWRITE.bdport, l4),
    after: tuple(v, REWRITE.asrc, REWRITE.asport, REWRITE.adst, REWRITE.adport, l4),
  };
}
