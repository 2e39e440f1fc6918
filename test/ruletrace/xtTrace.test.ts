// Legacy iptables' xt TRACE log turned into a rule path, from captures of
// real runs (test/fixtures/xttrace/capture.sh: each host's NFLOG
// stream and `iptables-legacy-save` while a legacy-iptables lab's mysql
// request was traced, before and after masquerade-all).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { type KubeProxyConfig, KubeProxyConfigSchema } from '../../src/events/types.js';
import { type NflogRecord, NflogReader } from '../../src/ruletrace/nflog.js';
import { explainRulePath } from '../../src/ruletrace/rulePath.js';
import { tracedFlow } from '../../src/ruletrace/tracedRequest.js';
import {
  parseSave,
  parseXtPrefix,
  type SavedChain,
  verdictOfRule,
  xtChainPrefix,
  xtRecords,
} from '../../src/ruletrace/xtTrace.js';
import { FIXTURES } from '../helpers.js';
import { packet } from './paths.js';

const DIR = join(FIXTURES, 'xttrace');
const HOSTS = ['office', 'vpn', 'node1', 'node2'];
const FlowSchema = z.object({ clientPort: z.number().int() });

function logged(c: string, host: string): NflogRecord[] {
  const records: NflogRecord[] = [];
  new NflogReader((r) => records.push(r)).push(readFileSync(join(DIR, c, `${host}.pcap`)));
  return records;
}

const save = (c: string, host: string) => readFileSync(join(DIR, c, `${host}.save`), 'utf8');

function explained(c: string, masqueradeAll: boolean) {
  const port = FlowSchema.parse(JSON.parse(readFileSync(join(DIR, c, 'flow.json'), 'utf8'))).clientPort;
  const kubeProxy: KubeProxyConfig = KubeProxyConfigSchema.parse({
    mode: 'iptables',
    masqueradeAll,
    clusterCIDR: null,
  });
  const hosts = HOSTS.map((host) => {
    const { records, skipped } = xtRecords(logged(c, host), parseSave(save(c, host)));
    return { host, records, skipped };
  });
  return { hosts, path: explainRulePath(hosts, tracedFlow({ via: 'service', pod: 'mysql' }, port), kubeProxy) };
}

describe('xt TRACE lines and saved rules', () => {
  test('a TRACE prefix is read field by field; names iptables would not accept are not', () => {
    expect(parseXtPrefix('TRACE: nat:KUBE-SVC-EM6TYMHOE4ZSTRV3:rule:2 ')).toEqual({
      table: 'nat',
      chain: 'KUBE-SVC-EM6TYMHOE4ZSTRV3',
      type: 'rule',
      n: 2,
    });
    expect(parseXtPrefix('TRACE: filter:FORWARD:policy:5 ')?.type).toBe('policy');
    for (const bad of [
      'TRACE: nat:PREROUTING:rule: ',
      'TRACE: nat:PREROUTING:jump:1 ',
      'TRACE: NAT:PREROUTING:rule:1 ',
      'TRACE: nat:A-CHAIN-NAME-LONGER-THAN-28-CHARS:rule:1 ',
      'TRACE: nat:PRE ROUTING:rule:1 ',
      'hello ',
    ])
      expect(parseXtPrefix(bad)).toBeNull();
  });

  test("a chain's prefix begins exactly the captured log lines the parser reads as that chain's", () => {
    const prefixes = HOSTS.flatMap((host) => logged('incident', host).map((r) => r.prefix));
    const lines = prefixes.map((p) => ({ p, line: parseXtPrefix(p) }));
    expect(lines.filter((l) => l.line === null)).toEqual([]);
    expect(lines.filter((l) => l.p.startsWith(xtChainPrefix('raw', 'OUTPUT'))).length).toBeGreaterThan(0);
    for (const { p, line } of lines) {
      expect(p.startsWith(xtChainPrefix(line!.table, line!.chain))).toBe(true);
      expect(p.startsWith(xtChainPrefix('raw', 'OUTPUT'))).toBe(line!.table === 'raw' && line!.chain === 'OUTPUT');
    }
  });

  test("node1's saved nat table: built-in chains with their policy, kube-proxy's chains with their rules in order", () => {
    const nat = parseSave(save('incident', 'node1')).get('nat');
    expect(nat?.get('PREROUTING')?.policy).toBe('ACCEPT');
    expect(nat?.get('KUBE-SERVICES')?.policy).toBeNull();
    expect(nat?.get('KUBE-POSTROUTING')?.rules[0]).toBe('-m mark ! --mark 0x4000/0x4000 -j RETURN');
  });

  test("a rule's verdict: a user chain jumped to (or gone to), a terminal target, or on to the next rule", () => {
    const nat: ReadonlyMap<string, SavedChain> = parseSave(save('incident', 'node1')).get('nat') ?? new Map();
    const rules = (chain: string): string[] => nat.get(chain)?.rules ?? [];
    const sep = [...nat.keys()].find((k) => k.startsWith('KUBE-SEP-')) ?? '';
    expect(verdictOfRule(rules('PREROUTING')[0] ?? '', nat)).toEqual({ kind: 'jump', target: 'KUBE-SERVICES' });
    expect(verdictOfRule(rules(sep).find((r) => r.includes('DNAT')) ?? '', nat)).toEqual({
      kind: 'accept',
      target: null,
    });
    expect(verdictOfRule(rules('KUBE-MARK-MASQ')[0] ?? '', nat)).toEqual({ kind: 'continue', target: null });
    expect(verdictOfRule('-m mark ! --mark 0x4000/0x4000 -j RETURN', nat)).toEqual({ kind: 'return', target: null });
    expect(verdictOfRule('-s 10.0.0.0/8 -g KUBE-SERVICES', nat)).toEqual({ kind: 'goto', target: 'KUBE-SERVICES' });
    // a built-in chain's name is not a jump target, and a counting rule has no target
    expect(verdictOfRule('-j PREROUTING', nat)).toEqual({ kind: 'continue', target: null });
    expect(verdictOfRule('-s 10.0.0.0/8', nat)).toEqual({ kind: 'continue', target: null });
  });
});

describe('the rule path of a traced request, from legacy rules', () => {
  test('before the fix: node1 DNATs to the pod on node2 without marking it, KUBE-POSTROUTING returns, the vpn drops the reply as INVALID', () => {
    const { hosts, path } = explained('incident', false);
    expect(hosts.map((h) => h.skipped)).toEqual([0, 0, 0, 0]);
    const node1 = packet(path.packets, 'node1', 'request');
    expect(node1.packet).toBe('192.168.10.10:20001 → 10.96.207.61:3306 (syn)');
    const chains = node1.steps.filter((s) => s.table === 'nat').map((s) => s.chain);
    expect(chains.slice(0, 4)).toEqual([
      'PREROUTING',
      'KUBE-SERVICES',
      expect.stringMatching(/^KUBE-SVC-/),
      expect.stringMatching(/^KUBE-SEP-/),
    ]);
    expect(node1.steps.find((s) => s.meaning === 'DNAT to 10.244.2.2:3306')?.rule).toContain(
      '-j DNAT --to-destination 10.244.2.2:3306',
    );
    expect(node1.steps.some((s) => s.verdict === 'jump KUBE-MARK-MASQ')).toBe(false);
    expect(node1.outcome).toEqual([
      'DNAT to 10.244.2.2:3306',
      'no KUBE-MARK-MASQ: clusterCIDR unset, masqueradeAll false',
      'KUBE-POSTROUTING returns (mark 0x4000 not set) → no SNAT',
    ]);
    expect(packet(path.packets, 'node2', 'request').packet).toBe('192.168.10.10:20001 → 10.244.2.2:3306 (syn)');
    const vpn = packet(path.packets, 'vpn', 'reply');
    expect(vpn.packet).toBe('10.244.2.2:3306 → 192.168.10.10:20001 (syn | ack)');
    expect(vpn.steps.find((s) => s.verdict === 'drop')?.meaning).toBe(
      'DROP: conntrack state INVALID (a reply to a request this host never saw)',
    );
    // the SYN was sent again: a second packet of the flow on node1, told apart from the first
    expect(node1.morePackets).toBeGreaterThan(0);
    expect(path.packets.map((p) => `${p.host} ${p.direction}`)).toEqual([
      'office request',
      'vpn request',
      'node1 request',
      'node2 request',
      'node2 reply',
      'vpn reply',
    ]);
  });

  test('after masquerade-all: node1 jumps to KUBE-MARK-MASQ, sets the mark, DNATs and masquerades; node2 sees node1 as the client', () => {
    const { path } = explained('masquerade-all', true);
    const node1 = packet(path.packets, 'node1', 'request');
    expect(node1.steps.find((s) => s.verdict === 'jump KUBE-MARK-MASQ')?.meaning).toBe(
      'marked for SNAT (masqueradeAll true)',
    );
    expect(node1.steps.find((s) => s.chain === 'KUBE-MARK-MASQ')?.rule).toBe('-j MARK --set-xmark 0x4000/0x4000');
    expect(node1.outcome).toEqual(['DNAT to 10.244.2.2:3306', 'MASQUERADE: SNAT to this node’s address']);
    expect(packet(path.packets, 'node2', 'request').packet).toMatch(/^10\.0\.1\.11:\d+ → 10\.244\.2\.2:3306 \(syn\)$/);
    expect(packet(path.packets, 'node1', 'reply').packet).toMatch(/^10\.244\.2\.2:3306 → 10\.0\.1\.11:\d+/);
    expect(path.packets.some((p) => p.steps.some((s) => s.verdict === 'drop'))).toBe(false);
  });

  test('a log line naming a rule the save does not have is counted, not guessed', () => {
    const c = 'incident';
    const saved = parseSave(save(c, 'node1'));
    const full = xtRecords(logged(c, 'node1'), saved);
    saved.get('nat')?.delete('KUBE-SERVICES');
    const without = xtRecords(logged(c, 'node1'), saved);
    expect(without.skipped).toBeGreaterThan(0);
    expect(without.records.length).toBe(full.records.length - without.skipped);
    expect(without.records.some((r) => r.chain === 'KUBE-SERVICES' && r.table === 'nat')).toBe(false);
  });

  test('rule text from the save is escaped before anything shows it', () => {
    const c = 'incident';
    const text = save(c, 'vpn').replace('cloud fabric', 'cloud \x1b[2J fabric');
    const { records } = xtRecords(logged(c, 'vpn'), parseSave(text));
    const drop = records.find((r) => r.kind === 'rule' && r.verdict.kind === 'drop');
    expect(drop?.kind === 'rule' && drop.rule).toContain('cloud \\x1b[2J fabric');
  });
});
