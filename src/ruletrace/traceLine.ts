// The kernel's own rule tracing, as `nft -a monitor trace` prints it (nft
// 1.0.6 prints traces as text even with -j): one line per event, each
// "trace id <hex> <family> <table> <chain> …", where … is the packet as the
// chain saw it ("packet: …"), a rule it met ("rule … # handle N (verdict
// …)"), or the chain's policy. Every line comes from the kernel through nft
// and is validated field by field here; the rule text, the one free-form
// field, is kept escaped so that no terminal acts on it.

import { isIPv4 } from 'node:net';
import { safeLine } from '../util/terminal.js';

export const FAMILIES = ['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev'] as const;
export type Family = (typeof FAMILIES)[number];

// What a rule or a chain's policy decided for the packet.
export const VERDICTS = ['continue', 'accept', 'drop', 'return', 'jump', 'goto', 'queue', 'stolen', 'break'] as const;
export type VerdictKind = (typeof VERDICTS)[number];
export interface Verdict {
  kind: VerdictKind;
  // the chain jumped to (jump, goto)
  target: string | null;
}

// The fields natscope reads from a "packet:" line; the rest of it is left out.
export interface PacketFields {
  iif: string | null;
  oif: string | null;
  saddr: string | null;
  daddr: string | null;
  // tcp, udp, icmp, or null for another protocol
  proto: 'tcp' | 'udp' | 'icmp' | null;
  sport: number | null;
  dport: number | null;
  // "syn", "syn | ack", …: as nft prints them after "tcp flags =="
  tcpFlags: string | null;
  // the packet mark when it is not 0 (nft prints it only then)
  mark: number | null;
}

interface Where {
  id: string;
  family: Family;
  table: string;
  chain: string;
}

export type TraceRecord =
  | (Where & { kind: 'packet'; packet: PacketFields })
  | (Where & { kind: 'rule'; rule: string; handle: number | null; verdict: Verdict })
  | (Where & { kind: 'policy'; verdict: Verdict })
  | (Where & { kind: 'other'; text: string });

export type ParsedLine = { record: TraceRecord } | { skipped: string };

// nft's own limit on table and chain names is 256; kube-proxy's names use these characters
const NAME = /^[A-Za-z0-9_.\-/:]{1,256}$/;
const ID = /^[0-9a-f]{8}$/;
// nft quotes interface names; IFNAMSIZ is 16 with the terminating zero
const IFNAME = /^[A-Za-z0-9_.\-@:]{1,15}$/;
const MAX_LINE = 8192;

function skip(why: string): ParsedLine {
  return { skipped: why };
}

export function parseVerdict(text: string): Verdict | null {
  const words = text.trim().split(' ');
  const kind = VERDICTS.find((v) => v === words[0]);
  if (kind === undefined) return null;
  if (kind === 'jump' || kind === 'goto') {
    if (words.length !== 2 || !NAME.test(words[1] ?? '')) return null;
    return { kind, target: words[1] ?? null };
  }
  return words.length === 1 ? { kind, target: null } : null;
}

// One line of `nft -a monitor trace`; anything that is not a trace line of the expected shape is skipped with why.
export function parseTraceLine(raw: string): ParsedLine {
  if (raw.length > MAX_LINE) return skip(`a line of ${raw.length} characters`);
  const line = raw.trimEnd();
  if (!line.startsWith('trace id ')) return skip('not a trace line');
  const words = line.split(' ');
  const [, , id = '', familyWord = '', table = '', chain = ''] = words;
  if (!ID.test(id)) return skip('the trace id is not 8 hex digits');
  const family = FAMILIES.find((f) => f === familyWord);
  if (family === undefined) return skip('unknown family');
  if (!NAME.test(table) || !NAME.test(chain)) return skip('a table or chain name natscope does not accept');
  const where: Where = { id, family, table, chain };
  const rest = words.slice(6).join(' ').trim();
  if (rest.startsWith('packet: ')) {
    const packet = parsePacket(rest.slice('packet: '.length));
    return packet ? { record: { ...where, kind: 'packet', packet } } : skip('a packet field that is not valid');
  }
  if (rest.startsWith('rule ')) return parseRule(where, rest.slice('rule '.length));
  if (rest.startsWith('policy ')) {
    // nft appends the packet's mark when a rule set it ("policy accept meta mark 0x00004000")
    const verdict = parseVerdict(rest.slice('policy '.length).replace(/ meta mark 0x[0-9a-f]{1,8}$/, ''));
    return verdict ? { record: { ...where, kind: 'policy', verdict } } : skip('an unknown policy');
  }
  return { record: { ...where, kind: 'other', text: safeLine(rest) } };
}

// "<rule text> # handle N (verdict V)"; without -a there is no handle.
function parseRule(where: Where, text: string): ParsedLine {
  const v = /^(.*) \(verdict ([a-z]+(?: \S+)?)\)$/.exec(text);
  if (!v) return skip('a rule without a verdict');
  const verdict = parseVerdict(v[2] ?? '');
  if (!verdict) return skip('an unknown verdict');
  let body = v[1] ?? '';
  let handle: number | null = null;
  const h = / # handle (\d{1,10})$/.exec(body);
  if (h) {
    handle = Number(h[1]);
    body = body.slice(0, h.index);
  }
  // nft leaves double spaces where iptables-nft matches it cannot print were
  const rule = safeLine(body.replace(/ {2,}/g, ' ').trim());
  return { record: { ...where, kind: 'rule', rule, handle, verdict } };
}

function port(text: string | undefined): number | null | undefined {
  if (text === undefined) return null;
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function address(text: string | undefined): string | null | undefined {
  if (text === undefined) return null;
  return isIPv4(text) ? text : undefined;
}

function ifname(text: string | undefined): string | null | undefined {
  if (text === undefined) return null;
  const m = /^"(.*)"$/.exec(text);
  return m && IFNAME.test(m[1] ?? '') ? (m[1] ?? null) : undefined;
}

const TCP_FLAGS = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg', 'ecn', 'cwr'];

// The TCP header's flags byte as nft names the flags: "syn | ack".
export function tcpFlagNames(bits: number): string {
  return TCP_FLAGS.filter((_, i) => bits & (1 << i)).join(' | ');
}

// "syn", "syn | ack", or a number nft prints for a combination ("0x12" for a SYN-ACK): as names.
function tcpFlags(text: string): string | undefined {
  if (/^0x[0-9a-f]{1,2}$/.test(text)) return tcpFlagNames(Number(text));
  const names = text.split(' | ');
  return names.every((n) => TCP_FLAGS.includes(n)) ? text : undefined;
}

// The fields natscope reads from the text after "packet: "; null if one of them is not valid.
export function parsePacket(text: string): PacketFields | null {
  const after = (key: string): string | undefined => {
    const m = new RegExp(`(?:^| )${key} (\\S+)`).exec(text);
    return m?.[1];
  };
  const proto = /(?:^| )tcp /.test(text)
    ? 'tcp'
    : /(?:^| )udp /.test(text)
      ? 'udp'
      : /(?:^| )icmp /.test(text)
        ? 'icmp'
        : null;
  const flagsText = /(?:^| )tcp flags == (\S+(?: \| \S+)*)/.exec(text)?.[1] ?? null;
  const flags = flagsText === null ? null : tcpFlags(flagsText);
  const markText = after('meta mark');
  const mark = markText === undefined ? null : /^0x[0-9a-f]{1,8}$/.test(markText) ? Number(markText) : undefined;
  const fields = {
    iif: ifname(after('iif')),
    oif: ifname(after('oif')),
    saddr: address(after('ip saddr')),
    daddr: address(after('ip daddr')),
    sport: proto === 'tcp' || proto === 'udp' ? port(after(`${proto} sport`)) : null,
    dport: proto === 'tcp' || proto === 'udp' ? port(after(`${proto} dport`)) : null,
  };
  if (Object.values(fields).some((v) => v === undefined) || mark === undefined) return null;
  if (flags === undefined) return null;
  return {
    iif: fields.iif ?? null,
    oif: fields.oif ?? null,
    saddr: fields.saddr ?? null,
    daddr: fields.daddr ?? null,
    proto,
    sport: fields.sport ?? null,
    dport: fields.dport ?? null,
    tcpFlags: flags,
    mark,
  };
}

// Every trace line of a capture, with how many lines were skipped as not valid.
export function parseTrace(text: string): { records: TraceRecord[]; skipped: number } {
  const records: TraceRecord[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = parseTraceLine(line);
    if ('record' in parsed) records.push(parsed.record);
    else skipped++;
  }
  return { records, skipped };
}
