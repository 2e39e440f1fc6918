// Turns bpftrace's `-f json` output lines into typed records: the probes'
// printf lines become kernel events, map prints become the probes' sequence
// counters (for loss accounting), the rest becomes status or noise.
// Field order is the one each probe's header documents (probes/*.bt).

import { EVENT_VERSION, type DropEvent, type KernelEvent, type NatEvent, type RewriteEvent, type Tuple } from '../events/types.js';
import type { CtNewEvent, CtDestroyEvent } from '../events/types.js';
import { ipFromRaw, portFromRaw, protoName, tcpFlagNames } from '../events/tuple.js';

export interface ParseContext {
  // netns inode → lab host name ("?" when unknown)
  hostOf(netns: number): string;
  // enum skb_drop_reason value → name on the running kernel
  dropReason(code: number): string;
}

// `stream`: which program's sequence numbers a line carries (conntrack has two)
export type BpftraceRecord =
  | { type: 'event'; probe: ProbeFamily; stream: string; cpu: number; seq: number; event: KernelEvent }
  | { type: 'sequence'; probe: ProbeFamily; stream: string; perCpu: Map<number, number> }
  | { type: 'lost'; count: number }
  | { type: 'attached'; probes: number }
  | { type: 'message'; text: string }
  | { type: 'blank' }
  | { type: 'other'; value: unknown }
  | { type: 'garbage'; line: string; reason: string };

export type ProbeFamily = 'nat' | 'conntrack' | 'drop' | 'rewrite';

// The sequence maps the probe programs keep (see the probes' headers), and
// the stream of lines each numbers (named by the lines' tag).
export const SEQUENCE_MAPS: Record<string, { probe: ProbeFamily; stream: string }> = {
  '@nat_seq': { probe: 'nat', stream: 'nat' },
  '@ctn_seq': { probe: 'conntrack', stream: 'ct-new' },
  '@ctd_seq': { probe: 'conntrack', stream: 'ct-destroy' },
  '@drop_seq': { probe: 'drop', stream: 'drop' },
  '@rw_seq': { probe: 'rewrite', stream: 'rewrite' },
};

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

const PRINTF_PREFIX = '{"type": "printf", "data": "';
const PRINTF_SUFFIX = '\\n"}';

export function parseBpftraceLine(line: string, ctx: ParseContext): BpftraceRecord {
  if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === '')) return { type: 'blank' };
  // Fast path: the probes' own lines carry only letters, digits and spaces,
  // so their fields are read straight out of the JSON envelope, no JSON.parse.
  if (line.startsWith(PRINTF_PREFIX) && line.endsWith(PRINTF_SUFFIX)) {
    const record = parseProbeLine(line, PRINTF_PREFIX.length, line.length - PRINTF_SUFFIX.length, ctx);
    if (record) return record;
  }
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
      return parseProbeLine(text, 0, text.length, ctx, line) ?? { type: 'message', text };
    }
    case 'attached_probes':
      return { type: 'attached', probes: Number((data as { probes?: unknown })?.probes ?? 0) };
    case 'lost_events':
      return { type: 'lost', count: Number((data as { events?: unknown })?.events ?? 0) };
    case 'map':
      return parseMap(data, value);
    default:
      return { type: 'other', value };
  }
}

function garbage(line: string, reason: string): BpftraceRecord {
  return { type: 'garbage', line, reason };
}

function parseMap(data: unknown, value: unknown): BpftraceRecord {
  if (typeof data !== 'object' || data === null) return { type: 'other', value };
  const entries = Object.entries(data as Record<string, unknown>);
  if (entries.length !== 1) return { type: 'other', value };
  const [name, perCpu] = entries[0]!;
  const map = SEQUENCE_MAPS[name];
  if (!map) return { type: 'other', value };
  const counts = new Map<number, number>();
  if (typeof perCpu === 'object' && perCpu !== null) {
    for (const [cpu, n] of Object.entries(perCpu as Record<string, unknown>)) counts.set(Number(cpu), Number(n));
  }
  return { type: 'sequence', probe: map.probe, stream: map.stream, perCpu: counts };
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

// Field counts after the leading tag, per the probes' headers.
const FIELD_COUNT: Record<string, number> = { nat: 16, 'ct-new': 15, 'ct-destroy': 15, drop: 13, rewrite: 15 };

const TAGS = ['nat', 'ct-new', 'ct-destroy', 'drop', 'rewrite'] as const;
type Tag = (typeof TAGS)[number];

// The probe tag at text[from, from+length), without slicing it out: this runs for every event.
function probeTag(text: string, from: number, length: number): Tag | null {
  for (const tag of TAGS) {
    if (tag.length === length && text.charCodeAt(from) === tag.charCodeAt(0) && text.startsWith(tag, from)) return tag;
  }
  return null;
}

// Scratch for the field scanner: the hot path allocates no substrings.
const nums: number[] = new Array(32).fill(0);
let textField = '';

// Reads the space-separated fields of text[from, to) into `nums` (the one
// non-decimal field, a hex address or a symbol, into `textField`). Returns
// the field count, or -i when field i is not a decimal number.
function scanFields(text: string, from: number, to: number, textIndex: number): number {
  let count = 0;
  let i = from;
  while (i < to) {
    count++;
    const start = i;
    while (i < to && text.charCodeAt(i) !== 32) i++;
    if (count === textIndex) {
      textField = text.slice(start, i);
      if (textField.includes('\\') || textField.includes('"')) return -count;
    } else {
      let j = start;
      const negative = text.charCodeAt(j) === 45;
      if (negative) j++;
      if (j === i) return -count;
      let value = 0;
      for (; j < i; j++) {
        const c = text.charCodeAt(j) - 48;
        if (c < 0 || c > 9) return -count;
        value = value * 10 + c;
      }
      if (count < nums.length) nums[count] = negative ? -value : value;
    }
    i++; // the space
  }
  return count;
}

// A probe's line (text[from, to), without the JSON envelope), or null if its
// first word is not a probe's tag (a BEGIN banner, bpftrace's own printf).
function parseProbeLine(text: string, from: number, to: number, ctx: ParseContext, line = text): BpftraceRecord | null {
  let space = text.indexOf(' ', from);
  if (space < 0 || space > to) space = to;
  const tag = probeTag(text, from, space - from);
  const expected = tag === null ? undefined : FIELD_COUNT[tag];
  if (tag === null || expected === undefined) {
    const message = text.slice(from, to);
    // escaped characters need the full JSON decoder
    return message.includes('\\') || message.includes('"') ? null : { type: 'message', text: message };
  }
  // the location symbol (drop) and the ct address (hex) are the only non-decimal fields
  const count = scanFields(text, space + 1, to, tag === 'drop' ? 6 : tag === 'rewrite' ? -1 : 5);
  if (count < 0) return garbage(line, `${tag} line: field ${-count} is not a number`);
  if (count !== expected) return garbage(line, `${tag} line has ${count} fields, expected ${expected}`);
  const host = ctx.hostOf(nums[4]!);
  // one builder per kind keeps each object shape in its own, monomorphic function
  switch (tag) {
    case 'nat':
      return { type: 'event', probe: 'nat', stream: 'nat', cpu: nums[1]!, seq: nums[2]!, event: natEvent(host) };
    case 'ct-new':
    case 'ct-destroy':
      return { type: 'event', probe: 'conntrack', stream: tag, cpu: nums[1]!, seq: nums[2]!, event: conntrackEvent(tag, host) };
    case 'drop':
      return { type: 'event', probe: 'drop', stream: 'drop', cpu: nums[1]!, seq: nums[2]!, event: dropEvent(host, ctx) };
    default:
      return { type: 'event', probe: 'rewrite', stream: 'rewrite', cpu: nums[1]!, seq: nums[2]!, event: rewriteEvent(host) };
  }
}

// The builders read the fields scanFields left in `nums` and `textField`.
function natEvent(host: string): NatEvent {
  const f = nums;
  const manip = f[6] === 1 ? 'DNAT' : 'SNAT';
  const l4 = f[7]!;
  const orig = tuple(f, 8, l4);
  const reply = tuple(f, 12, l4);
  return {
    v: EVENT_VERSION,
    kind: 'nat',
    t: f[3]!,
    host,
    netns: f[4]!,
    manip,
    proto: protoName(l4),
    orig,
    reply,
    // DNAT rewrote where the packet goes (the reply's source); SNAT where it comes from (the reply's destination)
    to: manip === 'DNAT' ? { ip: reply.src, port: reply.sport } : { ip: reply.dst, port: reply.dport },
    ct: textField,
    accepted: f[16] === 1,
  };
}

function conntrackEvent(kind: 'ct-new' | 'ct-destroy', host: string): CtNewEvent | CtDestroyEvent {
  const f = nums;
  const l4 = f[7]!;
  return {
    v: EVENT_VERSION,
    kind,
    t: f[3]!,
    host,
    netns: f[4]!,
    proto: protoName(l4),
    orig: tuple(f, 8, l4),
    reply: tuple(f, 12, l4),
    status: statusNames(f[6]!),
    ct: textField,
  } as CtNewEvent | CtDestroyEvent;
}

function dropEvent(host: string, ctx: ParseContext): DropEvent {
  const f = nums;
  const code = f[5]!;
  const l4 = f[7]!;
  return {
    v: EVENT_VERSION,
    kind: 'drop',
    t: f[3]!,
    host,
    netns: f[4]!,
    reason: ctx.dropReason(code),
    reasonCode: code,
    location: textField,
    packet: {
      proto: protoName(l4),
      src: ipFromRaw(f[8]!),
      sport: portFromRaw(f[9]!),
      dst: ipFromRaw(f[10]!),
      dport: portFromRaw(f[11]!),
      flags: l4 === 6 ? tcpFlagNames(f[12]!) : [],
    },
    ifindex: f[13]!,
  };
}

function rewriteEvent(host: string): RewriteEvent {
  const f = nums;
  const l4 = f[7]!;
  return {
    v: EVENT_VERSION,
    kind: 'rewrite',
    t: f[3]!,
    host,
    netns: f[4]!,
    manip: f[5] === 1 ? 'DNAT' : 'SNAT',
    dir: f[6] === 1 ? 'reply' : 'orig',
    proto: protoName(l4),
    before: tuple(f, 8, l4),
    after: tuple(f, 12, l4),
  };
}
