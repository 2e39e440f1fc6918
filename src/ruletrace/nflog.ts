// The kernel's netfilter log (nfnetlink_log) as tcpdump writes it from
// `tcpdump -i nflog:0 -w -`: a pcap stream of link type NFLOG, one record per
// logged packet. Legacy iptables' rule tracing (xt TRACE, xtTrace.ts) logs
// each rule a traced packet meets through the namespace's logger; with that
// logger set to nfnetlink_log, each such log is one record here, its prefix
// "TRACE: table:chain:type:rulenum" and its payload the packet as that rule
// saw it. Every byte comes from the kernel through tcpdump and is checked
// here: a record that is not of the expected shape is counted, not read.
//
// Formats: pcap's file header and record headers (pcap-savefile(5)); an
// NFLOG record is a 4-byte header (family, version, resource id) and then
// TLVs whose length and type are in the writer's byte order (that of the
// file header's magic) and whose values are as netlink sends them (numbers
// in network byte order), each TLV padded to 4 bytes (pcap-linktype(7),
// LINKTYPE_NFLOG).

import { tcpFlagNames } from './traceLine.js';
import type { PacketFields } from './traceLine.js';

export const LINKTYPE_NFLOG = 239;

// the NFLOG attributes natscope reads (linux/netfilter/nfnetlink_log.h)
const NFULA_MARK = 2;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;

// NF_LOG_PREFIXLEN is 128 with the terminating zero
const MAX_PREFIX = 127;
// a record larger than this is not one natscope asked for (tcpdump's snap length is 262144)
const MAX_RECORD = 262_144;

export interface NflogRecord {
  // the log prefix, printable ASCII only (records with anything else are skipped)
  prefix: string;
  // the packet's fields (IPv4); null when the payload is not an IPv4 packet natscope reads
  packet: PacketFields | null;
  // the IP header's identification field: one packet keeps it through NAT
  ipId: number | null;
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

// The fields of an IPv4 packet (the payload from its network header on).
function ipv4Fields(p: Buffer, mark: number | null): { packet: PacketFields; ipId: number } | null {
  if (p.length < 20 || p[0] === undefined || p[0] >> 4 !== 4) return null;
  const ihl = (p[0] & 0x0f) * 4;
  if (ihl < 20 || p.length < ihl) return null;
  const protoNumber = p[9];
  const proto = protoNumber === 6 ? 'tcp' : protoNumber === 17 ? 'udp' : protoNumber === 1 ? 'icmp' : null;
  // a fragment after the first has no transport header
  const fragmentOffset = p.readUInt16BE(6) & 0x1fff;
  const transport = fragmentOffset === 0 && (proto === 'tcp' || proto === 'udp') && p.length >= ihl + 4;
  const tcpFlagsByte = proto === 'tcp' && transport && p.length >= ihl + 14 ? p[ihl + 13] : undefined;
  return {
    ipId: p.readUInt16BE(4),
    packet: {
      iif: null,
      oif: null,
      saddr: ipv4(p, 12),
      daddr: ipv4(p, 16),
      proto,
      sport: transport ? p.readUInt16BE(ihl) : null,
      dport: transport ? p.readUInt16BE(ihl + 2) : null,
      tcpFlags: tcpFlagsByte === undefined ? null : tcpFlagNames(tcpFlagsByte),
      mark: mark === null || mark === 0 ? null : mark,
    },
  };
}

// One NFLOG record's body (after pcap's record header); null if it is not of the shape described above.
export function parseNflogBody(body: Buffer, littleEndian: boolean): NflogRecord | null {
  if (body.length < 4 || body[0] !== 2 /* AF_INET */) return null;
  const u16 = (at: number) => (littleEndian ? body.readUInt16LE(at) : body.readUInt16BE(at));
  let prefix: string | null = null;
  let payload: Buffer | null = null;
  let mark: number | null = null;
  let at = 4;
  while (at + 4 <= body.length) {
    const length = u16(at);
    const type = u16(at + 2);
    if (length < 4 || at + length > body.length) return null;
    const value = body.subarray(at + 4, at + length);
    if (type === NFULA_PREFIX) {
      // a NUL-terminated string
      const end = value.indexOf(0);
      const text = value.subarray(0, end < 0 ? value.length : end);
      if (text.length > MAX_PREFIX || !/^[\x20-\x7e]*$/.test(text.toString('latin1'))) return null;
      prefix = text.toString('latin1');
    } else if (type === NFULA_PAYLOAD) payload = value;
    else if (type === NFULA_MARK && value.length === 4) mark = value.readUInt32BE(0);
    at += (length + 3) & ~3;
  }
  if (prefix === null) return null;
  const fields = payload ? ipv4Fields(payload, mark) : null;
  return { prefix, packet: fields?.packet ?? null, ipId: fields?.ipId ?? null };
}

// Reads a pcap stream chunk by chunk; each complete NFLOG record goes to
// onRecord, each record that is not a valid one is counted in `skipped`.
export class NflogReader {
  skipped = 0;
  private pending: Buffer = Buffer.alloc(0);
  private littleEndian: boolean | null = null;
  private failed: string | null = null;

  constructor(private readonly onRecord: (r: NflogRecord) => void) {}

  // why the stream cannot be read (not pcap, not NFLOG), or null
  get error(): string | null {
    return this.failed;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.littleEndian === null && !this.readHeader()) return;
    while (this.pending.length >= 16) {
      const captured = this.u32(8);
      if (captured > MAX_RECORD) {
        this.fail(`a record of ${captured} bytes`);
        return;
      }
      if (this.pending.length < 16 + captured) return;
      const record = parseNflogBody(this.pending.subarray(16, 16 + captured), this.littleEndian === true);
      if (record) this.onRecord(record);
      else this.skipped++;
      this.pending = this.pending.subarray(16 + captured);
    }
  }

  // The file header: its byte order and link type. False until it is whole, or when it is not one natscope reads.
  private readHeader(): boolean {
    if (this.pending.length < 24) return false;
    const magic = this.pending.readUInt32LE(0);
    // microsecond (a1b2c3d4) or nanosecond (a1b23c4d) timestamps, either byte order
    if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.littleEndian = true;
    else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) this.littleEndian = false;
    else {
      this.fail('not a pcap stream');
      return false;
    }
    const linktype = this.u32(20) & 0x0fffffff;
    if (linktype !== LINKTYPE_NFLOG) {
      this.fail(`link type ${linktype}, not NFLOG (${LINKTYPE_NFLOG})`);
      return false;
    }
    this.pending = this.pending.subarray(24);
    return true;
  }

  private u32(at: number): number {
    return this.littleEndian === false ? this.pending.readUInt32BE(at) : this.pending.readUInt32LE(at);
  }

  private fail(why: string): void {
    this.failed = why;
    this.pending = Buffer.alloc(0);
  }
}
