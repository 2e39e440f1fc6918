// One line of `nft -a monitor trace`, parsed. The kernel reports each rule a
// traced packet matched (nftables' nftrace: the packet's trace bit, set by a
// `meta nftrace set 1` rule) and nft prints it as text:
//   trace id 5fdbd3e0 ip kube-proxy nat-prerouting packet: iif "v1" … ip saddr 192.168.10.10 ip daddr 10.96.207.61 … tcp sport 60634 tcp dport 3306 tcp flags == syn …
//   trace id 5fdbd3e0 ip kube-proxy services rule ip daddr . meta l4proto . th dport vmap @service-ips # handle 96 (verdict goto service-OHLJZKKC-default/mysql/tcp/mysql)
//   trace id 5fdbd3e0 ip kube-proxy filter-forward policy accept meta mark 0x00004000
// (rules iptables-nft wrote come the same way, translated: "ip nat KUBE-SERVICES rule …").
// The text comes from another program and names what others may have
// written (chain names, rule text): every field is checked, names must be
// names, a rule's text is kept short and free of control characters, and a
// line that is not one of these shapes is refused (null), never guessed at.

import { parseIPv4, tcpFlagNames } from '../events/tuple.js';

export interface TracedPacket {
  proto: 'tcp' | 'udp' | 'icmp' | `ip${number}`;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  // TCP flag names as the probes name them (tcpFlagNames: "SYN", "ACK")
  flags: string[];
  iif: string | null;
  oif: string | null;
}

interface LineBase {
  id: string;
  family: string;
  table: string;
  chain: string;
}

export type MonitorLine =
  | (LineBase & { kind: 'packet'; packet: TracedPacket })
  | (LineBase & { kind: 'rule'; rule: string; handle: number | null; verdict: string })
  | (LineBase & { kind: 'policy' | 'return'; verdict: string; mark: string | null });

// nftables object names: at most 256 bytes; kube-proxy's hold "/", "." and "_".
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_./:@-]{0,255}$/;
const FAMILIES = new Set(['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev']);
const VERDICT = /^(?:accept|drop|continue|return|break|stolen|queue|repeat|(?:jump|goto) (\S+))$/;
const RULE_TEXT_MAX = 400;
const MARK = /^meta mark (0x[0-9a-f]{1,8})$/;

// TCP flag words nft prints, as the bits of the flags byte (a value it has
// no words for comes as hex: "0x12").
const FLAG_BITS: Record<string, number> = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ecn: 0x40,
  cwr: 0x80,
};

// "syn", "syn | ack", "0x12": the flags byte (null: not flags).
export function tcpFlagsByte(text: string): number | null {
  const t = text.trim();
  if (/^0x[0-9a-f]{1,2}$/.test(t)) return Number.parseInt(t, 16);
  let bits = 0;
  for (const word of t.split(/\s*[|,]\s*/)) {
    const bit = FLAG_BITS[word];
    if (bit === undefined) return null;
    bits |= bit;
  }
  return bits;
}

// Control characters and anything past the first RULE_TEXT_MAX characters go.
export function cleanRuleText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const plain = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').trim();
  return plain.length > RULE_TEXT_MAX ? `${plain.slice(0, RULE_TEXT_MAX - 1)}…` : plain;
}

// A rule's counter changes with every packet: left out, so the same rule reads the same.
function withoutCounter(text: string): string {
  return text.replace(/\s*\bcounter packets \d+ bytes \d+/g, '').replace(/\s{2,}/g, ' ');
}

function quotedName(value: string | undefined): string | null {
  if (value === undefined) return null;
  const m = /^"([A-Za-z0-9_.@:-]{1,15})"$/.exec(value);
  return m ? m[1]! : null;
}

// The packet: line's fields ("ip saddr 10.0.0.1 ip daddr … tcp sport 1 tcp dport 2 tcp flags == syn …").
function parsePacket(text: string): TracedPacket | null {
  const get = (re: RegExp) => re.exec(text)?.[1];
  const src = get(/(?:^|\s)ip saddr (\S+)/);
  const dst = get(/(?:^|\s)ip daddr (\S+)/);
  if (src === undefined || dst === undefined || parseIPv4(src) === null || parseIPv4(dst) === null) return null;
  const l4 = /(?:^|\s)(tcp|udp) sport (\d{1,5}) \1 dport (\d{1,5})(?:\s|$)/.exec(text);
  let proto: TracedPacket['proto'];
  let sport = 0;
  let dport = 0;
  let flags: string[] = [];
  if (l4) {
    proto = l4[1] === 'tcp' ? 'tcp' : 'udp';
    sport = Number(l4[2]);
    dport = Number(l4[3]);
    if (sport > 65535 || dport > 65535) return null;
    if (proto === 'tcp') {
      const f = /(?:^|\s)tcp flags == (0x[0-9a-f]{1,2}|[a-z]+(?: ?[|,] ?[a-z]+)*)(?:\s|$)/.exec(text);
      const byte = f ? tcpFlagsByte(f[1]!) : 0;
      if (byte === null) return null;
      flags = tcpFlagNames(byte);
    }
  } else if (/(?:^|\s)icmp type /.test(text)) proto = 'icmp';
  else {
    const n = get(/(?:^|\s)ip protocol (\d{1,3})(?:\s|$)/);
    if (n === undefined || Number(n) > 255) return null;
    proto = `ip${Number(n)}`;
  }
  return {
    proto,
    src,
    dst,
    sport,
    dport,
    flags,
    iif: quotedName(get(/(?:^|\s)iif (\S+)/)),
    oif: quotedName(get(/(?:^|\s)oif (\S+)/)),
  };
}

const HEADER = /^trace id ([0-9a-f]{8}) (\S+) (\S+) (\S+) (packet:|rule|policy|verdict)(?: (.*))?$/;

// One line; null if it is not a trace line natscope understands.
export function parseMonitorLine(raw: string): MonitorLine | null {
  const line = raw.replace(/\s+$/, '');
  const m = HEADER.exec(line);
  if (!m) return null;
  const [, id, family, table, chain, what, rest = ''] = m;
  if (!FAMILIES.has(family!) || !NAME.test(table!) || !NAME.test(chain!)) return null;
  const base: LineBase = { id: id!, family: family!, table: table!, chain: chain! };
  if (what === 'packet:') {
    const packet = parsePacket(rest);
    return packet ? { ...base, kind: 'packet', packet } : null;
  }
  if (what === 'rule') {
    const r = /^(.*?)(?: # handle (\d{1,10}))? \(verdict ([^()]+)\)$/.exec(rest);
    if (!r) return null;
    const verdict = r[3]!.trim();
    if (!VERDICT.test(verdict) || !NAME.test(VERDICT.exec(verdict)![1] ?? 'x')) return null;
    const handle = r[2] === undefined ? null : Number(r[2]);
    if (handle !== null && handle > 0xffffffff) return null;
    return { ...base, kind: 'rule', rule: cleanRuleText(withoutCounter(r[1]!)), handle, verdict };
  }
  // "policy accept [meta mark 0x…]", "verdict return [meta mark 0x…]"
  const v = /^(\S+)(?: (.*))?$/.exec(rest.trim());
  if (!v) return null;
  const verdict = v[1]!;
  if (!VERDICT.test(verdict)) return null;
  const tail = (v[2] ?? '').trim();
  const mark = tail === '' ? null : (MARK.exec(tail)?.[1] ?? undefined);
  if (mark === undefined) return null;
  return { ...base, kind: what === 'policy' ? 'policy' : 'return', verdict, mark };
}
