// trace --rules on a micro-VM lab whose nodes use iptables-legacy (root):
// the guest kernel's xt TRACE, logged through nfnetlink_log in each lab
// namespace and read with tcpdump there, gives the rule path of one mysql
// request before the fix and after `lab set masquerade-all on`, rule by
// rule as iptables-legacy-save prints the rules, on the kernel of the
// micro-VM's stack (Debian 12's 6.1; Debian 13's 6.12 in vm-debian13).

import { afterAll, describe, expect, test } from 'vitest';
import { isMasqueradeRule, type PacketPath } from '../../src/ruletrace/rulePath.js';
import { natscope } from '../cli.js';
import { packet, traceMysql } from './paths.js';

const PREFIX = 'natscope-xtv-';
const MYSQL_POD = '10.244.2.2:3306';

afterAll(async () => {
  await natscope(['lab', 'down', '--prefix', PREFIX]);
});

describe('trace --rules in the micro-VM on iptables-legacy (xt TRACE)', () => {
  test('lab up in the micro-VM with iptables-legacy', async () => {
    const up = await natscope(['lab', 'up', '--vm', 'on', '--prefix', PREFIX, '--iptables', 'legacy'], {
      timeout: 600_000,
    });
    expect(up.exitCode, String(up.stderr)).toBe(0);
  });

  test('before the fix: node1 DNATs without KUBE-MARK-MASQ, KUBE-POSTROUTING returns, the vpn drops the INVALID reply', async () => {
    const traced = await traceMysql(PREFIX);
    expect(traced.request.outcome).toBe('timeout');
    const node1 = packet(traced.rulePath.packets, 'node1', 'request');
    const dnat = node1.steps.find((s) => s.meaning === `DNAT to ${MYSQL_POD}`);
    expect(dnat?.chain).toMatch(/^KUBE-SEP-/);
    // the rule as iptables-legacy-save prints it: xt TRACE read it (nftrace would print nft's words)
    expect(dnat?.rule).toContain(`-j DNAT --to-destination ${MYSQL_POD}`);
    expect(node1.steps.some((s) => s.verdict === 'jump KUBE-MARK-MASQ')).toBe(false);
    expect(node1.steps.some((s) => isMasqueradeRule(s.rule))).toBe(false);
    expect(node1.outcome).toEqual([
      `DNAT to ${MYSQL_POD}`,
      'no KUBE-MARK-MASQ: clusterCIDR unset, masqueradeAll false',
      'KUBE-POSTROUTING returns (mark 0x4000 not set) → no SNAT',
    ]);
    const vpnReply = packet(traced.rulePath.packets, 'vpn', 'reply');
    expect(vpnReply.packet).toContain(`${MYSQL_POD} → 192.168.10.10:${traced.request.sport}`);
    expect(vpnReply.steps.find((s) => s.verdict === 'drop')?.rule).toContain('--ctstate INVALID');
    expect(Object.values(traced.skipped)).toEqual([0, 0, 0, 0]);
  });

  test('after masquerade-all: KUBE-MARK-MASQ, the DNAT, then MASQUERADE on node1; node2 sees node1 as the client', async () => {
    const set = await natscope(['lab', 'set', 'masquerade-all', 'on', '--prefix', PREFIX], { timeout: 300_000 });
    expect(set.exitCode, String(set.stderr)).toBe(0);
    const traced = await traceMysql(PREFIX);
    expect(traced.request.outcome).toBe('answered');
    const node1 = packet(traced.rulePath.packets, 'node1', 'request');
    const at = (pred: (s: PacketPath['steps'][number]) => boolean) => node1.steps.findIndex(pred);
    const mark = at((s) => s.verdict === 'jump KUBE-MARK-MASQ');
    const dnat = at((s) => s.meaning === `DNAT to ${MYSQL_POD}`);
    const masq = at((s) => s.chain === 'KUBE-POSTROUTING' && isMasqueradeRule(s.rule));
    expect(mark).toBeGreaterThanOrEqual(0);
    expect(dnat).toBeGreaterThan(mark);
    expect(masq).toBeGreaterThan(dnat);
    expect(packet(traced.rulePath.packets, 'node2', 'request').packet).toMatch(
      /^10\.0\.1\.11:\d+ → 10\.244\.2\.2:3306/,
    );
  });
});
