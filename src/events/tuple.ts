import type { Proto, Tuple } from './types.js';

// The same connection seen from the other direction.
export function inverse(t: Tuple): Tuple {
  return { src: t.dst, sport: t.dport, dst: t.src, dport: t.sport };
}

// A map key for one direction of a connection.
export function tupleKey(proto: Proto, t: Tuple): string {
  return `${proto} ${t.src}:${t.sport}>${t.dst}:${t.dport}`;
}

export function endpoint(ip: string, port: number): string {
  return port ? `${ip}:${port}` : ip;
}

export function formatTuple(t: Tuple): string {
  return `${endpoint(t.src, t.sport)} → ${endpoint(t.dst, t.dport)}`;
}

export function protoName(n: number): Proto {
  if (n === 6) return 'tcp';
  if (n === 17) return 'udp';
  if (n === 1) return 'icmp';
  return `ip${n}`;
}

const ipCache = new Map<number, string>();

// Raw __be32 read as a little-endian u32 (x86-64, arm64) → dotted quad.
// The same few addresses recur in every event: each is formatted once.
export function ipFromRaw(raw: number): string {
  let ip = ipCache.get(raw);
  if (ip === undefined) {
    ip = `${raw & 255}.${(raw >>> 8) & 255}.${(raw >>> 16) & 255}.${raw >>> 24}`;
    if (ipCache.size < 65536) ipCache.set(raw, ip);
  }
  return ip;
}

// Raw __be16 read as a little-endian u16 → port number.
export function portFromRaw(raw: number): number {
  return ((raw & 255) << 8) | ((raw >>> 8) & 255);
}

const TCP_FLAGS: [number, string][] = [
  [2, 'SYN'],
  [16, 'ACK'],
  [1, 'FIN'],
  [4, 'RST'],
  [8, 'PSH'],
  [32, 'URG'],
];

const flagNames: (readonly string[] | undefined)[] = new Array(256);

// Named once per flag byte and shared (frozen: events are read, never changed).
export function tcpFlagNames(byte: number): string[] {
  const b = byte & 255;
  let names = flagNames[b];
  if (names === undefined) {
    names = Object.freeze(TCP_FLAGS.filter(([bit]) => b & bit).map(([, name]) => name));
    flagNames[b] = names;
  }
  return names as string[];
}

export function formatFlags(flags: string[]): string {
  return flags.join('-');
}

// One octet in canonical form: no leading zeros, since iptables, nft and
// inet_aton read "010" as octal (8): "010.244.0.0/16" would be installed as
// 8.244.0.0/16, a different network from the one shown.
const OCTET = '(0|[1-9]\\d{0,2})';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

// Every IPv4 address natscope accepts (options, recordings, cluster objects)
// goes through here: dotted quad, each octet 0-255 written canonically.

export function parseIPv4(ip: string): number | null {
  const m = IPV4.exec(ip);
  if (!m) return null;
  const parts = m.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

const ipv4Numbers = new Map<string, number | null>();

// parseIPv4 for the hot path: the same few addresses recur in every event.
export function ipv4Number(ip: string): number | null {
  let n = ipv4Numbers.get(ip);
  if (n === undefined) {
    n = parseIPv4(ip);
    if (ipv4Numbers.size < 65536) ipv4Numbers.set(ip, n);
  }
  return n;
}

export interface Cidr {
  base: number;
  bits: number;
  text: string;
}

// Parses "a.b.c.d/n"; null if it is not a canonical IPv4 CIDR (canonical
// octets, a prefix length 0-32 without leading zeros, no host bits set).
export function parseCidr(text: string): Cidr | null {
  const [ip, bitsText, extra] = text.split('/');
  if (ip === undefined || bitsText === undefined || extra !== undefined || !/^(0|[1-9]\d?)$/.test(bitsText))
    return null;
  const bits = Number(bitsText);
  const addr = parseIPv4(ip);
  if (addr === null || bits > 32) return null;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  if ((addr & mask) >>> 0 !== addr) return null;
  return { base: addr, bits, text };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const addr = parseIPv4(ip);
  if (addr === null) return false;
  const mask = cidr.bits === 0 ? 0 : (0xffffffff << (32 - cidr.bits)) >>> 0;
  return (addr & mask) >>> 0 === cidr.base;
}
