// natscope demo --proxy-mode nftables, live, in the micro-VM: the walkthrough
// brings the netns lab up with kube-proxy's nftables table and tells the
// incident in that mode, every step verified on the real kernel: the table's
// own chains and fix (nftables.masqueradeAll), a ClusterIP ping rejected by
// node1 and the echo request's drop where the kernel says it freed it. The
// run is recorded to test-output/vm/<stack>/nftables/walkthrough.jsonl
// (test/fixtures/recordings/walkthrough-nftables.jsonl is one such run).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { natscope } from '../cli.js';
import { ROOT } from '../helpers.js';
import { EXPECT, STACK, STACK_LABEL } from '../vm/stacks.js';

const OUT = join(ROOT, 'test-output', 'vm', STACK, 'nftables');
mkdirSync(OUT, { recursive: true });

interface StepLine {
  step: number;
  title: string;
  ok: boolean;
  evidence: Record<string, unknown>;
  claims: { text: string; ok: boolean; saw?: string }[];
}

describe(`natscope demo in nftables mode, in the micro-VM (${STACK_LABEL})`, () => {
  test('--proxy-mode nftables --auto --json: all ten steps verified on the live lab, in that mode', async () => {
    const started = performance.now();
    const r = await natscope(
      [
        'demo',
        '--auto',
        '--json',
        '--vm',
        'on',
        '--proxy-mode',
        'nftables',
        '--record',
        join(OUT, 'walkthrough.jsonl'),
      ],
      { timeout: 600_000 },
    );
    const wallS = (performance.now() - started) / 1000;
    writeFileSync(join(OUT, 'demo-timing.json'), `${JSON.stringify({ wallS })}\n`);
    const lines: StepLine[] = String(r.stdout)
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const failed = lines.filter((l) => !l.ok).map((l) => ({ step: l.step, claims: l.claims.filter((c) => !c.ok) }));
    expect(failed).toEqual([]);
    expect(lines).toHaveLength(10);
    expect(r.exitCode).toBe(0);

    const step = (n: number) => lines.find((l) => l.step === n)!;
    // the setup says, and checked, the mode
    expect(step(1).evidence.mode).toBe('nftables');
    expect(step(1).claims.map((c) => c.text)).toContain("kube-proxy runs in nftables mode on the lab's nodes");
    // the ping: rejected by node1's cluster-ips-check, the echo request freed where this kernel frees a DROP verdict
    expect(step(6).evidence).toMatchObject({
      clusterIP: {
        answered: false,
        detail: expect.stringMatching(/^From 10\.0\.1\.11 .*Destination Port Unreachable/),
      },
      pod: { answered: true },
      rejectRule: expect.stringMatching(/^ip daddr @cluster-ips reject/),
      echoDrop: { host: 'node1', reason: 'NETFILTER_DROP', location: EXPECT.netfilterDropAt },
    });
    // the fix in the mode's own words
    expect(step(7).title).toBe('The fix: nftables.masqueradeAll');
    expect(step(7).evidence).toMatchObject({
      serviceChain: 'service-OHLJZKKC-default/mysql/tcp/mysql',
      removed: [],
      added: expect.arrayContaining([
        { chain: 'service-OHLJZKKC-default/mysql/tcp/mysql', rule: 'ip daddr 10.96.207.61 jump mark-for-masquerade' },
      ]),
    });
    // the vpn drops the pod's SYN-ACK where this kernel frees a DROP verdict, as in iptables mode
    expect(step(4).evidence).toMatchObject({
      drop: { host: 'vpn', reason: 'NETFILTER_DROP', location: EXPECT.netfilterDropAt },
    });
  });
});
