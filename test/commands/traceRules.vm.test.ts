// trace --rules on a lab that lives in the micro-VM (root): the guest's
// agent traces the rules with the guest kernel's nftrace and answers the
// rule path, checked on the host against the protocol's schema. In both
// kube-proxy modes, one mysql request before the fix and after
// `lab set masquerade-all on`, its path checked rule by rule on the kernel
// of the micro-VM's stack.

import { afterAll, describe, expect, test } from 'vitest';
import type { ProxyMode } from '../../src/events/types.js';
import { chainNames, type PacketPath, RuleTraceSchema } from '../../src/ruletrace/rulePath.js';
import { natscope } from '../cli.js';
import { packet, traceMysql } from '../ruletrace/paths.js';

const PREFIX = 'natscope-trv-';
const MYSQL_POD = '10.244.2.2:3306';

afterAll(async () => {
  await natscope(['lab', 'down', '--prefix', PREFIX]);
});

for (const mode of ['iptables', 'nftables'] as const satisfies readonly ProxyMode[]) {
  describe(`trace --rules in the micro-VM, kube-proxy in ${mode} mode`, () => {
    const names = chainNames(mode);

    test('lab up in the micro-VM', async () => {
      const up = await natscope(['lab', 'up', '--vm', 'on', '--prefix', PREFIX, '--proxy-mode', mode], {
        timeout: 600_000,
      });
      expect(up.exitCode, String(up.stderr)).toBe(0);
    });

    test('before the fix: node1 DNATs without the mark, no SNAT, the vpn drops the INVALID reply', async () => {
      const traced = await traceMysql(PREFIX);
      expect(traced.request.outcome).toBe('timeout');
      expect(traced.rulePath.mode).toBe(mode);
      const node1 = packet(traced.rulePath.packets, 'node1', 'request');
      expect(node1.steps.some((s) => s.meaning === `DNAT to ${MYSQL_POD}` && names.sep.test(s.chain))).toBe(true);
      expect(node1.steps.some((s) => s.verdict === `jump ${names.mark}`)).toBe(false);
      expect(node1.steps.some((s) => /(?:^| )masquerade(?: |$)/.test(s.rule))).toBe(false);
      expect(node1.outcome).toContain(`no ${names.mark}: clusterCIDR unset, masqueradeAll false`);
      const vpnReply = packet(traced.rulePath.packets, 'vpn', 'reply');
      expect(vpnReply.packet).toContain(`${MYSQL_POD} → 192.168.10.10:${traced.request.sport}`);
      expect(vpnReply.steps.some((s) => s.verdict === 'drop' && /invalid/i.test(s.rule))).toBe(true);
    });

    test("--events: node1's DNAT rule is the kernel's binding, the vpn's invalid drop is the kernel's NETFILTER_DROP", async () => {
      const run = await natscope(
        ['trace', '--rules', '--request', 'mysql', '--timeout', '3', '--events', '--prefix', PREFIX, '--json'],
        { timeout: 300_000 },
      );
      expect([0, 1], String(run.stderr)).toContain(run.exitCode);
      const out = JSON.parse(String(run.stdout));
      const traced = RuleTraceSchema.parse(out);
      const lines: { host: string; what: string; agree: boolean; kernel: { text: string } | null }[] = out.joined.lines;
      const at = (host: string, what: string) => lines.find((l) => l.host === host && l.what === what);
      expect(at('node1', 'DNAT')).toMatchObject({
        agree: true,
        kernel: {
          text: expect.stringMatching(
            new RegExp(
              `^nf_nat_setup_info DNAT tcp 192\\.168\\.10\\.10:${traced.request.sport} → 10\\.96\\.207\\.61:3306 ⇒ dst ${MYSQL_POD}$`,
            ),
          ),
        },
      });
      expect(at('node1', 'SNAT')).toMatchObject({ agree: true, kernel: null });
      expect(at('vpn', 'drop')).toMatchObject({
        agree: true,
        kernel: { text: expect.stringMatching(/^kfree_skb NETFILTER_DROP at \S+: tcp 10\.244\.2\.2:3306 → /) },
      });
      // and as text, each line with its verdict
      const text = await natscope(
        ['trace', '--rules', '--request', 'mysql', '--timeout', '3', '--events', '--prefix', PREFIX],
        {
          timeout: 300_000,
        },
      );
      expect(String(text.stdout)).toContain(
        "Which rule did it, next to what the kernel did (the probes' events of the same flow):",
      );
      expect(String(text.stdout)).toContain('    ✓ the same binding');
    });

    test('after lab set masquerade-all on: the mark, then DNAT, then MASQUERADE on node1, and an answer', async () => {
      const set = await natscope(['lab', 'set', 'masquerade-all', 'on', '--prefix', PREFIX], { timeout: 120_000 });
      expect(set.exitCode, String(set.stderr)).toBe(0);
      const traced = await traceMysql(PREFIX);
      expect(traced.request.outcome).toBe('answered');
      const node1 = packet(traced.rulePath.packets, 'node1', 'request');
      const at = (pred: (s: PacketPath['steps'][number]) => boolean) => node1.steps.findIndex(pred);
      const mark = at((s) => s.verdict === `jump ${names.mark}`);
      const dnat = at((s) => s.meaning === `DNAT to ${MYSQL_POD}`);
      const masq = at((s) => s.chain === names.post && /(?:^| )masquerade(?: |$)/.test(s.rule));
      expect(mark).toBeGreaterThanOrEqual(0);
      expect(dnat).toBeGreaterThan(mark);
      expect(masq).toBeGreaterThan(dnat);
      expect(traced.rulePath.summary.find((l) => l.startsWith('node1 request'))).toContain('MASQUERADE');
    });

    test('lab down', async () => {
      const down = await natscope(['lab', 'down', '--prefix', PREFIX], { timeout: 120_000 });
      expect(down.exitCode, String(down.stderr)).toBe(0);
    });
  });
}
