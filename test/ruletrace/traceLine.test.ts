// Parsing `nft -a monitor trace`, on output captured from real lab runs
// (test/fixtures/ruletrace/README.md says how), and on captured lines made
// hostile: what the kernel sends through nft is validated, and its one
// free-form field, the rule text, never reaches a terminal unescaped.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parsePacket, parseTrace, parseTraceLine, type TraceRecord } from '../../src/ruletrace/traceLine.js';
import { FIXTURES } from '../helpers.js';

const DIR = join(FIXTURES, 'ruletrace');
const CASES = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const HOSTS = ['office', 'vpn', 'node1', 'node2'];
const capture = (c: string, host: string) => readFileSync(join(DIR, c, `${host}.txt`), 'utf8');

// the first captured line of this kind (a real line, to be made hostile)
function realLine(pred: (line: string) => boolean): string {
  for (const c of CASES)
    for (const h of HOSTS) {
      const found = capture(c, h)
        .split('\n')
        .find((l) => pred(l));
      if (found) return found;
    }
  throw new Error('no such captured line');
}

const rules = (records: TraceRecord[]) => records.flatMap((r) => (r.kind === 'rule' ? [r] : []));

describe('nft monitor trace output, as captured from the lab', () => {
  test('there are captures of both proxy modes, before and after the fix', () => {
    expect(CASES.sort()).toEqual([
      'iptables-incident',
      'iptables-masquerade-all',
      'nftables-incident',
      'nftables-masquerade-all',
    ]);
  });

  test.each(CASES)('every line of %s is a trace line with valid fields', (c) => {
    for (const h of HOSTS) {
      const { records, skipped } = parseTrace(capture(c, h));
      expect(skipped, `${c}/${h}`).toBe(0);
      expect(records.length, `${c}/${h}`).toBeGreaterThan(0);
      for (const r of records) expect(r.id).toMatch(/^[0-9a-f]{8}$/);
    }
  });

  test('node1’s DNAT rule is read with its chain, handle and verdict (iptables mode)', () => {
    const dnat = rules(parseTrace(capture('iptables-incident', 'node1')).records).find((r) =>
      r.rule.includes('dnat to 10.244.2.2:3306'),
    );
    expect(dnat?.table).toBe('nat');
    expect(dnat?.chain).toMatch(/^KUBE-SEP-[A-Z2-7]{16}$/);
    expect(dnat?.handle).toBeGreaterThan(0);
    expect(dnat?.verdict.kind).toBe('accept');
  });

  test('the jump to kube-proxy’s endpoint chain is read with its target (nftables mode)', () => {
    const jumps = rules(parseTrace(capture('nftables-incident', 'node1')).records).filter(
      (r) => r.table === 'kube-proxy' && (r.verdict.kind === 'jump' || r.verdict.kind === 'goto'),
    );
    expect(jumps.some((r) => r.verdict.target?.startsWith('endpoint-'))).toBe(true);
    expect(jumps.some((r) => r.verdict.target === 'services')).toBe(true);
  });

  test('a packet line gives the addresses, ports and TCP flags of the first SYN from the office', () => {
    const first = parseTrace(capture('iptables-incident', 'office')).records.find(
      (r) => r.kind === 'packet' && r.packet.dport === 3306,
    );
    expect(first?.kind === 'packet' && first.packet).toMatchObject({
      saddr: '192.168.10.10',
      daddr: '10.96.207.61',
      proto: 'tcp',
      tcpFlags: 'syn',
    });
  });
});

describe('hostile trace lines', () => {
  test('escape sequences in a rule’s text are shown escaped', () => {
    const line = realLine((l) => / rule .* # handle \d+ \(verdict /.test(l)).replace(' rule ', ' rule \x1b[2J\x9b31m ');
    const parsed = parseTraceLine(line);
    expect('record' in parsed && parsed.record.kind === 'rule' && parsed.record.rule).toContain('\\x1b[2J\\x9b31m');
  });

  test('a trace id, family, table or chain name out of shape skips the line', () => {
    const line = realLine((l) => / rule .* # handle /.test(l));
    const words = line.split(' ');
    const withWord = (i: number, w: string) => words.map((x, j) => (j === i ? w : x)).join(' ');
    expect(parseTraceLine(withWord(2, 'zzzzzzzz'))).toHaveProperty('skipped');
    expect(parseTraceLine(withWord(3, 'ipx'))).toHaveProperty('skipped');
    expect(parseTraceLine(withWord(4, 'nat\x1b]0;x'))).toHaveProperty('skipped');
    expect(parseTraceLine(withWord(5, 'a'.repeat(300)))).toHaveProperty('skipped');
  });

  test('a packet line with an address or port that is not one skips the line', () => {
    const line = realLine((l) => l.includes(' packet: ') && l.includes('tcp sport'));
    expect(parseTraceLine(line.replace(/ip saddr \S+/, 'ip saddr 999.1.1.1'))).toHaveProperty('skipped');
    expect(parseTraceLine(line.replace(/tcp sport \d+/, 'tcp sport 99999'))).toHaveProperty('skipped');
    expect(parseTraceLine(line.replace(/oif "[^"]*"/, 'oif "\x1b[31m"'))).toHaveProperty('skipped');
    expect(parsePacket('ip saddr 10.0.0.1 ip daddr 10.0.0.2 tcp sport 1 tcp dport 2 tcp flags == syn')).not.toBeNull();
  });

  test('an unknown verdict, a line over 8 KiB, and lines that are not trace lines are skipped', () => {
    const line = realLine((l) => / rule .* # handle \d+ \(verdict continue\)/.test(l));
    expect(parseTraceLine(line.replace('(verdict continue)', '(verdict explode)'))).toHaveProperty('skipped');
    expect(parseTraceLine(`${line} ${'x'.repeat(9000)}`)).toHaveProperty('skipped');
    expect(parseTrace(`hello\n${line}\n\n`)).toMatchObject({ skipped: 1 });
  });
});
