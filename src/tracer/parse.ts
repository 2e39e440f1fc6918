// Turns bpftrace's `-f json` output lines into typed records: the probes'
// printf lines become kernel events, map prints become the probes' sequence
// counters (for loss accounting), the rest becomes status or noise.
// Field order is the one each probe's header documents (probes/*.bt).

import { base, type DropEvent, type KernelEvent, type NatEvent, type RewriteEvent, type Tuple } from '../events/types.js';
import type { CtNewEvent, CtDestroyEvent } from '../events/types.js';
import { ipFromRaw, portFromRaw, protoName, tcpFlagNames } from '../events/tuple.js';

export interface ParseContext {
  // netns inode → lab host name ("?" when unknown)
  hostOf(netns: number): string;
  // enum skb_drop_reason value → name on the running kernel
  dropReason(code: number): string;
}

export type BpftraceRecord =
  | { type: 'event'; probe: ProbeFamily; cpu: number; seq: number; event: KernelEvent }
  | { type: 'sequence'; probe: ProbeFamily; perCpu: Map<number, number> }
  | { type: 'lost'; count: number }
  | { type: 'attached'; probes: number }
  | { type: 'message'; text: string }
  | { type: 'blank' }
  | { type: 'other'; value: unknown }
  | { type: 'garbage'; line: string; reason: string };

export type ProbeFamily = 'nat' | 'conntrack' | 'drop' | 'rewrite';

// The sequence map each probe family keeps (see the probes' headers).
export const SEQUENCE_MAPS: Record<string, ProbeFamily> = {
  '@nat_seq': 'nat',
  '@ct_seq': 'conntrack',
  '@drop_seq': 'drop',
  '@rw_seq': 'rewrite',
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

export function statusNames(bits: number): string[] {
  const names: string[] = [];
  for (let i = 0; i < STATUS_BITS.length; i++) if (bits & (1 << i)) names.push(STATUS_BITS[i]!);
  return names;
}

const PRINTF_PREFIX = '{"type": "printf", "data": "';
const PRINTF_SUFFIX = '\\n"}';

export function parseBpftraceLine(line: string, ctx: ParseContext): BpftraceRecord {
  if (line.trim() === '') return { type: 'blank' };
  // Fast path: the probes' own lines carry only letters, digits and spaces,
  // so the JSON envelope can be cut off without a full JSON.parse.
  if (line.startsWith(PRINTF_PREFIX) && line.endsWith(PRINTF_SUFFIX)) {
    const data = line.slice(PRINTF_PREFIX.length, -PRINTF_SUFFIX.length);
    if (!data.includes('\\') && !data.includes('"')) return parsePrintf(data, line, ctx);
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
    case 'printf':
      return typeof data === 'string' ? parsePrintf(data.replace(/\n$/, ''), line, ctx) : garbage(line, 'printf without text');
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
  const probe = SEQUENCE_MAPS[name];
  if (!probe) return { type: 'other', value };
  const counts = new Map<number, number>();
  if (typeof perCpu === 'object' && perCpu !== null) {
    for (const [cpu, n] of Object.entries(perCpu as Record<string, unknown>)) counts.set(Number(cpu), Number(n));
  }
  return { type: 'sequence', probe, perCpu: counts };
}

// Only TCP, UDP and SCTP have ports; for ICMP the same tuple fields hold the
// echo id and type/code, which are not shown as ports.
function hasPorts(l4: number): boolean {
  return l4 === 6 || l4 === 17 || l4 === 132;
}

function tuple(f: string[], i: number, l4: number): Tuple {
  const ports = hasPorts(l4);
  return {
    src: ipFromRaw(Number(f[i])),
    sport: ports ? portFromRaw(Number(f[i + 1])) : 0,
    dst: ipFromRaw(Number(f[i + 2])),
    dport: ports ? portFromRaw(Number(f[i + 3])) : 0,
  };
}

// Field counts after the leading tag, per the probes' headers.
const FIELD_COUNT: Record<string, number> = { nat: 16, 'ct-new': 15, 'ct-destroy': 15, drop: 13, rewrite: 15 };

function parsePrintf(data: string, line: string, ctx: ParseContext): BpftraceRecord {
  const f = data.split(' ');
  const tag = f[0]!;
  const expected = FIELD_COUNT[tag];
  if (expected === undefined) return { type: 'message', text: data };
  if (f.length !== expected + 1) {
    return garbage(line, `${tag} line has ${f.length - 1} fields, expected ${expected}`);
  }
  for (let i = 1; i < f.length; i++) {
    // the location symbol (drop) and the ct address (hex) are not decimal
    if (!(tag === 'drop' && i === 6) && !((tag === 'nat' || tag.startsWith('ct-')) && i === 5) && !/^-?\d+$/.test(f[i]!)) {
      return garbage(line, `${tag} line: field ${i} is not a number`);
    }
  }
  const cpu = Number(f[1]);
  const seq = Number(f[2]);
  const t = Number(f[3]);
  const netns = Number(f[4]);
  const host = ctx.hostOf(netns);
  switch (tag) {
    case 'nat': {
      const manip = f[6] === '1' ? 'DNAT' : 'SNAT';
      const l4 = Number(f[7]);
      const orig = tuple(f, 8, l4);
      const reply = tuple(f, 12, l4);
      // DNAT rewrote where the packet goes (the reply's source); SNAT where it comes from (the reply's destination)
      const to = manip === 'DNAT' ? { ip: reply.src, port: reply.sport } : { ip: reply.dst, port: reply.dport };
      const event: NatEvent = {
        ...base('nat', host, netns, t),
        manip,
        proto: protoName(l4),
        orig,
        reply,
        to,
        ct: f[5]!,
        accepted: f[16] === '1',
      };
      return { type: 'event', probe: 'nat', cpu, seq, event };
    }
    case 'ct-new':
    case 'ct-destroy': {
      const l4 = Number(f[7]);
      const event = {
        ...base(tag, host, netns, t),
        proto: protoName(l4),
        orig: tuple(f, 8, l4),
        reply: tuple(f, 12, l4),
        status: statusNames(Number(f[6])),
        ct: f[5]!,
      } as CtNewEvent | CtDestroyEvent;
      return { type: 'event', probe: 'conntrack', cpu, seq, event };
    }
    case 'drop': {
      const code = Number(f[5]);
      const l4 = Number(f[7]);
      const proto = protoName(l4);
      const event: DropEvent = {
        ...base('drop', host, netns, t),
        reason: ctx.dropReason(code),
        reasonCode: code,
        location: f[6]!,
        packet: {
          proto,
          src: ipFromRaw(Number(f[8])),
          sport: portFromRaw(Number(f[9])),
          dst: ipFromRaw(Number(f[10])),
          dport: portFromRaw(Number(f[11])),
          flags: l4 === 6 ? tcpFlagNames(Number(f[12])) : [],
        },
        ifindex: Number(f[13]),
      };
      return { type: 'event', probe: 'drop', cpu, seq, event };
    }
    default: {
      // rewrite
      const l4 = Number(f[7]);
      const event: RewriteEvent = {
        ...base('rewrite', host, netns, t),
        manip: f[5] === '1' ? 'DNAT' : 'SNAT',
        dir: f[6] === '1' ? 'reply' : 'orig',
        proto: protoName(l4),
        before: tuple(f, 8, l4),
        after: tuple(f, 12, l4),
      };
      return { type: 'event', probe: 'rewrite', cpu, seq, event };
    }
  }
}
