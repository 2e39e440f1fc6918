// The netfilter log as tcpdump writes it, read from captures of real runs
// (test/fixtures/xttrace/capture.sh: each host's `tcpdump -i nflog:0`
// while a legacy-iptables lab's mysql request was traced), and from those
// bytes altered the ways a stream could be wrong.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { LINKTYPE_NFLOG, type NflogRecord, NflogReader } from '../../src/ruletrace/nflog.js';
import { parseXtPrefix } from '../../src/ruletrace/xtTrace.js';
import { FIXTURES } from '../helpers.js';

const DIR = join(FIXTURES, 'xttrace');
const capture = (c: string, host: string) => readFileSync(join(DIR, c, `${host}.pcap`));

function readAll(bytes: Buffer, chunk = bytes.length): { records: NflogRecord[]; reader: NflogReader } {
  const records: NflogRecord[] = [];
  const reader = new NflogReader((r) => records.push(r));
  for (let at = 0; at < bytes.length; at += chunk) reader.push(bytes.subarray(at, at + chunk));
  return { records, reader };
}

// where the first record's body is in a capture (after the file header and its record header)
function firstRecordBody(bytes: Buffer): { start: number; length: number } {
  return { start: 24 + 16, length: bytes.readUInt32LE(24 + 8) };
}

describe('the NFLOG records of a captured trace', () => {
  test('node1, before the fix: every record is an xt TRACE line, and the mysql SYN is seen at its ClusterIP', () => {
    const { records, reader } = readAll(capture('incident', 'node1'));
    expect(reader.error).toBeNull();
    expect(reader.skipped).toBe(0);
    expect(records.length).toBeGreaterThan(10);
    for (const r of records) expect(parseXtPrefix(r.prefix)).not.toBeNull();
    const syn = records.find(
      (r) => r.prefix.startsWith('TRACE: nat:PREROUTING:') && r.packet?.daddr === '10.96.207.61',
    );
    expect(syn?.packet).toMatchObject({
      saddr: '192.168.10.10',
      sport: 20001,
      dport: 3306,
      proto: 'tcp',
      tcpFlags: 'syn',
    });
    // after the DNAT the same packet (same IP identification) is the pod's
    const forwarded = records.find((r) => r.prefix.startsWith('TRACE: filter:FORWARD:') && r.ipId === syn?.ipId);
    expect(forwarded?.packet?.daddr).toBe('10.244.2.2');
  });

  test('after masquerade-all: the mark kube-proxy set shows on the packet', () => {
    const { records } = readAll(capture('masquerade-all', 'node1'));
    const post = records.find((r) => r.prefix.startsWith('TRACE: nat:KUBE-POSTROUTING:'));
    expect(post?.packet?.mark).toBe(0x4000);
  });

  test('the stream read in pieces of any size gives the same records', () => {
    const bytes = capture('incident', 'vpn');
    const whole = readAll(bytes).records;
    for (const chunk of [1, 3, 7, 16, 23, 24, 25, 100]) expect(readAll(bytes, chunk).records).toEqual(whole);
  });
});

describe('a stream that is not what natscope asked for', () => {
  test('not pcap: refused as a whole', () => {
    const { records, reader } = readAll(Buffer.from('trace id 1234abcd ip filter output packet: oif "lo"\n'.repeat(2)));
    expect(records).toEqual([]);
    expect(reader.error).toBe('not a pcap stream');
  });

  test('another link type: refused as a whole', () => {
    const bytes = Buffer.from(capture('incident', 'vpn'));
    bytes.writeUInt32LE(1, 20);
    const { records, reader } = readAll(bytes);
    expect(records).toEqual([]);
    expect(reader.error).toBe(`link type 1, not NFLOG (${LINKTYPE_NFLOG})`);
  });

  test('a record longer than any natscope reads: refused, nothing buffered further', () => {
    const bytes = Buffer.from(capture('incident', 'vpn'));
    bytes.writeUInt32LE(10_000_000, 24 + 8);
    const { records, reader } = readAll(bytes);
    expect(records).toEqual([]);
    expect(reader.error).toBe('a record of 10000000 bytes');
  });

  test('a TLV running past its record, a prefix with control bytes, another address family: that record skipped, the rest read', () => {
    const good = readAll(capture('incident', 'vpn')).records;
    const cases: ((b: Buffer, body: { start: number; length: number }) => void)[] = [
      // the first TLV's length past the record's end
      (b, body) => b.writeUInt16LE(body.length + 4, body.start + 4),
      // an IPv6 family byte
      (b, body) => b.writeUInt8(10, body.start),
      // an escape character in the prefix: the first TLV of the kernel's is the packet header, the prefix follows
      (b, body) => {
        const prefixAt = b.indexOf('TRACE: ', body.start);
        b.writeUInt8(0x1b, prefixAt);
      },
    ];
    for (const alter of cases) {
      const bytes = Buffer.from(capture('incident', 'vpn'));
      alter(bytes, firstRecordBody(bytes));
      const { records, reader } = readAll(bytes);
      expect(reader.error).toBeNull();
      expect(reader.skipped).toBe(1);
      expect(records).toEqual(good.slice(1));
    }
  });
});
