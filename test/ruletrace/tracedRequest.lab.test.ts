// Rule tracing on a real lab (root): in both kube-proxy modes (and in
// iptables mode on iptables-legacy, read with xt TRACE), one mysql
// request traced before the fix and after `lab set masquerade-all on`, its
// rule path checked rule by rule (node1's DNAT; the mark for masquerade
// absent, then present; no SNAT, then MASQUERADE; the vpn's drop of the
// reply), and nothing left behind: no trace table, no listener, no logger changed.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IptablesBackend, ProxyMode } from '../../src/events/types.js';
import { NetnsLab } from '../../src/lab/netns/lab.js';
import { chainNames, isMasqueradeRule, type PacketPath } from '../../src/ruletrace/rulePath.js';
import { TRACED_HOSTS, tracedRequest } from '../../src/ruletrace/tracedRequest.js';
import { TRACE_TABLE } from '../../src/ruletrace/traceTable.js';
import { natscope } from '../cli.js';
import { traceLeftovers } from './leftovers.js';
import { packet } from './paths.js';

const PREFIX = 'natscope-trr-';
const MYSQL_POD = '10.244.2.2:3306';

const leftBehind = () => traceLeftovers(PREFIX);

const LABS: { mode: ProxyMode; iptables: IptablesBackend }[] = [
  { mode: 'iptables', iptables: 'nft' },
  { mode: 'nftables', iptables: 'nft' },
  { mode: 'iptables', iptables: 'legacy' },
];

for (const { mode, iptables } of LABS) {
  describe(`rule tracing of a mysql request, kube-proxy in ${mode} mode, iptables-${iptables}`, () => {
    const names = chainNames(mode);
    let lab: NetnsLab;

    beforeAll(async () => {
      lab = await NetnsLab.up({ prefix: PREFIX, masqueradeAll: false, clusterCIDR: null, proxyMode: mode, iptables });
    });
    afterAll(async () => {
      await NetnsLab.down(PREFIX);
    });

    test('before the fix: node1 DNATs the request to the pod on node2 without marking it, no SNAT follows, the vpn drops the reply', async () => {
      const traced = await tracedRequest(lab, 'mysql', 1500);
      expect(traced.request.outcome).toBe('timeout');
      const node1 = packet(traced.rulePath.packets, 'node1', 'request');
      const dnat = node1.steps.find((s) => s.meaning === `DNAT to ${MYSQL_POD}`);
      expect(dnat?.chain.match(names.sep) !== null).toBe(true);
      expect(node1.steps.some((s) => s.verdict === `jump ${names.mark}`)).toBe(false);
      expect(node1.steps.some((s) => s.chain === names.mark)).toBe(false);
      expect(node1.steps.some((s) => isMasqueradeRule(s.rule))).toBe(false);
      expect(node1.steps.some((s) => s.chain === names.post && s.verdict === 'return')).toBe(true);
      expect(node1.outcome).toContain(`no ${names.mark}: clusterCIDR unset, masqueradeAll false`);
      // the pod's answer reaches the vpn from node2 directly, and its conntrack finds it INVALID
      const vpnReply = packet(traced.rulePath.packets, 'vpn', 'reply');
      expect(vpnReply.packet).toContain(`${MYSQL_POD} → 192.168.10.10:${traced.request.sport}`);
      expect(vpnReply.steps.some((s) => s.verdict === 'drop' && /invalid/i.test(s.rule))).toBe(true);
      expect(traced.rulePath.packets.some((p) => p.host === 'node1' && p.direction === 'reply')).toBe(false);
      expect(Object.values(traced.skipped)).toEqual([0, 0, 0, 0]);
      expect(await leftBehind()).toEqual([]);
    });

    test('Ctrl-C while the request waits removes the trace tables and stops the listeners', async () => {
      const run = natscope([
        'trace',
        '--rules',
        '--request',
        'mysql',
        '--timeout',
        '20',
        '--prefix',
        PREFIX,
        '--vm',
        'off',
      ]);
      // until the tables are in: the request then waits for an answer that never comes
      const deadline = Date.now() + 15_000;
      while ((await leftBehind()).filter((l) => l.startsWith(TRACE_TABLE)).length < TRACED_HOSTS.length) {
        if (Date.now() > deadline) throw new Error('the trace tables never appeared');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      run.kill('SIGINT');
      const result = await run;
      expect(result.exitCode).toBe(130);
      expect(await leftBehind()).toEqual([]);
    });

    test('after lab set masquerade-all on: node1 marks the request, DNATs it and masquerades it, and the pod answers node1', async () => {
      await lab.setKubeProxy({ masqueradeAll: true });
      const traced = await tracedRequest(lab, 'mysql', 3000);
      expect(traced.request.outcome).toBe('answered');
      expect(traced.request.peer?.startsWith('10.0.1.11:')).toBe(true);
      const node1 = packet(traced.rulePath.packets, 'node1', 'request');
      const order = (pred: (s: PacketPath['steps'][number]) => boolean) => node1.steps.findIndex(pred);
      const mark = order((s) => s.verdict === `jump ${names.mark}`);
      const marked = order((s) => s.chain === names.mark);
      const dnat = order((s) => s.meaning === `DNAT to ${MYSQL_POD}`);
      const masq = order((s) => s.chain === names.post && isMasqueradeRule(s.rule));
      expect(mark).toBeGreaterThanOrEqual(0);
      expect(node1.steps[mark]?.meaning).toBe('marked for SNAT (masqueradeAll true)');
      expect(marked).toBeGreaterThan(mark);
      expect(dnat).toBeGreaterThan(marked);
      expect(masq).toBeGreaterThan(dnat);
      // node2 sees the masqueraded leg from node1, and the reply goes back through node1
      expect(packet(traced.rulePath.packets, 'node2', 'request').packet).toMatch(
        /^10\.0\.1\.11:\d+ → 10\.244\.2\.2:3306/,
      );
      expect(packet(traced.rulePath.packets, 'node1', 'reply').packet).toMatch(
        /^10\.244\.2\.2:3306 → 10\.0\.1\.11:\d+/,
      );
      expect(traced.rulePath.summary.find((l) => l.startsWith('node1 request'))).toContain('MASQUERADE');
      expect(await leftBehind()).toEqual([]);
    });

    test('the command prints the rule path as JSON and leaves nothing behind', async () => {
      const run = await natscope([
        'trace',
        '--rules',
        '--request',
        'mysql',
        '--prefix',
        PREFIX,
        '--vm',
        'off',
        '--json',
      ]);
      expect(run.exitCode, String(run.stderr)).toBe(0);
      const out: unknown = JSON.parse(String(run.stdout));
      expect(out).toMatchObject({ request: { outcome: 'answered' }, rulePath: { mode } });
      expect(String(run.stdout)).toContain(`DNAT to ${MYSQL_POD}`);
      expect(await leftBehind()).toEqual([]);
    });
  });
}
