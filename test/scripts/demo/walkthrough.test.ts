// The walkthrough's steps, run on recordings of real runs (the micro-VM):
// the same step code as live, its claims checked against what that run's
// kernel and lab did.

import { describe, expect, test } from 'vitest';
import type { NatscopeEvent, LabStatus } from '../../../src/events/types.js';
import { type DemoContext, toldIn } from '../../../scripts/demo/context.js';
import { ReplayClient, replayContext } from '../../../scripts/demo/replay-client.js';
import { narrator, runWalkthrough, wrap } from '../../../scripts/demo/walkthrough.js';
import { STEPS } from '../../../scripts/demo/steps/index.js';
import { FIXTURES, recordedEvents } from '../../helpers.js';
import { join } from 'node:path';

const GOOD = join(FIXTURES, 'recordings', 'walkthrough.jsonl');
const TAMPERED = join(FIXTURES, 'recordings', 'walkthrough-masquerade-all-on.jsonl');
const NFTABLES = join(FIXTURES, 'recordings', 'walkthrough-nftables.jsonl');

async function replay(path: string, startAt = 1) {
  const recorded = recordedEvents(path);
  const events: NatscopeEvent[] = [];
  const client = new ReplayClient(recorded);
  client.onEvent((e) => events.push(e));
  client.start();
  const status = recorded.find((e) => e.kind === 'status' && e.lab);
  let text = '';
  const ctx: DemoContext = {
    client,
    mode: 'replay',
    where: 'replay',
    lab: (status?.kind === 'status' ? status.lab : null) as LabStatus,
    events,
    out: narrator((t) => (text += t), false),
    settle: async (ms) => client.settle(ms),
    close: async () => ({ removed: [], kept: 'replay', left: [] }),
  };
  const results = await runWalkthrough(ctx, { interactive: false, json: false, startAt, write: (t) => (text += t) });
  return { results, text };
}

describe('the walkthrough on a recording of a full run', () => {
  test('all ten steps verify', async () => {
    const { results, text } = await replay(GOOD);
    expect(results.map((r) => [r.step, r.ok])).toEqual(STEPS.map((s) => [s.n, true]));
    expect(text).toContain('✓ 10/10 steps verified');
  });

  test('step 4 finds the DNAT on node1 and the NETFILTER_DROP at the vpn for its own request', async () => {
    const { results } = await replay(GOOD);
    const e = results[3]!.evidence as {
      dnat: { host: string };
      drop: { host: string; reason: string; packet: { flags: string[] } };
      path: string;
    };
    expect(e.dnat.host).toBe('node1');
    expect(e.drop).toMatchObject({ host: 'vpn', reason: 'NETFILTER_DROP', packet: { flags: ['SYN', 'ACK'] } });
    expect(e.path).toMatch(/✗ NETFILTER_DROP$/);
  });

  test("step 4 joins its request's rule path with its kernel events: the endpoint chain's DNAT, no mark, the vpn's invalid drop", async () => {
    const { results, text } = await replay(GOOD);
    const step = results[3]!;
    expect(step.claims.slice(-3).map((c) => [c.text.replace(/KUBE-SEP-\w+/, 'KUBE-SEP-…'), c.ok])).toEqual([
      ["node1's rules DNAT it in KUBE-SEP-…, the same binding the kernel made", true],
      [
        'no KUBE-MARK-MASQ rule matched: masqueradeAll false, clusterCIDR unset: no SNAT, in the rules or in the kernel',
        true,
      ],
      [
        "the vpn's rule that dropped the reply is the ct state invalid drop in filter FORWARD, and it dropped the packet the kernel freed",
        true,
      ],
    ]);
    expect((step.evidence as { joined: unknown }).joined).toEqual([
      { host: 'vpn', what: 'drop', agree: true, verdict: 'the packet the rule dropped is the one the kernel freed' },
      { host: 'node1', what: 'DNAT', agree: true, verdict: 'the same binding' },
      { host: 'node1', what: 'SNAT', agree: true, verdict: 'no SNAT binding in the kernel either' },
      { host: 'node2', what: 'SNAT', agree: true, verdict: 'no SNAT binding in the kernel either' },
    ]);
    expect(text).toContain('$ natscope trace --rules --request mysql');
    expect(text).toMatch(/ {6}rules: {2}drop in filter FORWARD \(DROP: conntrack state INVALID/);
  });

  test("step 4's rule claims fail, saying what was joined instead, when the recorded rule path lacks the vpn's drop", async () => {
    const recorded = recordedEvents(GOOD).map((e) =>
      e.kind === 'observation' && e.what === 'rulePath'
        ? { ...e, result: { ...e.result, packets: e.result.packets.filter((p) => p.host !== 'vpn') } }
        : e,
    );
    const ctx = replayContext(
      'edited.jsonl',
      recorded,
      narrator(() => undefined, true),
    );
    const results = await runWalkthrough(ctx, { interactive: false, json: true, startAt: 1, write: () => undefined });
    const failed = results[3]!.claims.filter((c) => !c.ok);
    expect(failed).toEqual([
      {
        text: "the vpn's rule that dropped the reply is the ct state invalid drop in filter FORWARD, and it dropped the packet the kernel freed",
        ok: false,
        saw: expect.stringMatching(
          /^no rule; kfree_skb NETFILTER_DROP at \S+: tcp 10\.244\.2\.2:3306 → 192\.168\.10\.10:\d+ \[SYN,ACK\].*: the kernel dropped it by a verdict no traced rule explains$/,
        ),
      },
    ]);
  });

  test('step 7 shows exactly the masquerade rules kube-proxy adds', async () => {
    const { results } = await replay(GOOD);
    const e = results[6]!.evidence as {
      added: string[];
      removed: string[];
      traced: { mark: { chain: string; rule: string }; snat: { agree: boolean; to: { ip: string } } };
    };
    expect(e.removed).toEqual([]);
    // the traced request after the change met mysql's new rule, and its masquerade is the kernel's SNAT
    expect(e.added[0]).toContain(`-A ${e.traced.mark.chain} -d 10.96.207.61/32`);
    expect(e.traced.mark.rule).toMatch(/ip daddr 10\.96\.207\.61 tcp dport 3306 counter jump KUBE-MARK-MASQ$/);
    expect(e.traced.snat).toMatchObject({ agree: true, to: { ip: '10.0.1.11' } });
    expect(e.added).toHaveLength(2);
    for (const line of e.added)
      expect(line).toMatch(/^-A KUBE-SVC-\S+ -d 10\.96\.\d+\.\d+\/32 -p tcp .* -j KUBE-MARK-MASQ$/);
  });

  test('step 9 measured both rates in that run', async () => {
    const { results } = await replay(GOOD);
    const e = results[8]!.evidence as { rates: { dnatOnly: number; dnatAndSnat: number } };
    expect(e.rates.dnatOnly).toBeGreaterThan(0);
    expect(e.rates.dnatAndSnat).toBeGreaterThan(0);
  });

  test('starting at a step tells the rest of the story', async () => {
    const { results } = await replay(GOOD, 7);
    expect(results.map((r) => r.step)).toEqual([7, 8, 9, 10]);
    expect(results.every((r) => r.ok)).toBe(true);
  });
});

describe('the walkthrough on a recording of a full run in nftables mode', () => {
  test('all ten steps verify, told in that mode', async () => {
    const { results, text } = await replay(NFTABLES);
    expect(results.map((r) => [r.step, r.ok])).toEqual(STEPS.map((s) => [s.n, true]));
    expect(text).toContain('✓ 10/10 steps verified');
    expect(text).toContain('kube-proxy: mode nftables, masqueradeAll=false, clusterCIDR=none');
    expect(text).toContain("✓ kube-proxy runs in nftables mode on the lab's nodes");
    expect(results[6]!.title).toBe('The fix: nftables.masqueradeAll');
    expect(text).not.toMatch(/KUBE-SVC|KUBE-MARK-MASQ/);
  });

  test("step 6 finds node1's ICMP reject, its cluster-ips-check rule, and the echo request's drop where the kernel freed it", async () => {
    const { results, text } = await replay(NFTABLES);
    expect(results[5]!.evidence).toMatchObject({
      clusterIP: { answered: false, detail: 'From 10.0.1.11 icmp_seq=1 Destination Port Unreachable' },
      pod: { answered: true },
      rejectRule: 'ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
      echoDrop: { host: 'node1', reason: 'NETFILTER_DROP', location: 'nft_do_chain' },
    });
    expect(text).toContain('    chain cluster-ips-check {');
  });

  test('step 7 quotes the chains to the pod and shows exactly the jumps to mark-for-masquerade kube-proxy adds', async () => {
    const { results, text } = await replay(NFTABLES);
    expect(results[6]!.evidence).toEqual({
      serviceChain: 'service-OHLJZKKC-default/mysql/tcp/mysql',
      added: [
        { chain: 'service-OHLJZKKC-default/mysql/tcp/mysql', rule: 'ip daddr 10.96.207.61 jump mark-for-masquerade' },
        { chain: 'service-2ETI3MDI-default/nginx/tcp/http', rule: 'ip daddr 10.96.48.29 jump mark-for-masquerade' },
      ],
      removed: [],
      traced: {
        request: { outcome: 'answered', sport: expect.any(Number) },
        mark: {
          chain: 'service-OHLJZKKC-default/mysql/tcp/mysql',
          rule: 'ip daddr 10.96.207.61 jump mark-for-masquerade',
        },
        snat: {
          agree: true,
          verdict: "the kernel's SNAT to 10.0.1.11 is that masquerade",
          to: { ip: '10.0.1.11', port: expect.any(Number) },
        },
      },
    });
    for (const chain of ['services', 'service-OHLJZKKC-default/mysql/tcp/mysql', 'mark-for-masquerade', 'masquerading'])
      expect(text).toContain(`    chain ${chain} {`);
    expect(text).toMatch(/ {4}chain endpoint-\S+-default\/mysql\/tcp\/mysql__10\.244\.2\.2\/3306 \{/);
    expect(text).toContain('$ natscope lab rules node1 | grep mark-for-masquerade');
    expect(text).toContain(
      '  + ip daddr 10.96.207.61 jump mark-for-masquerade   (chain service-OHLJZKKC-default/mysql/tcp/mysql)',
    );
  });

  test('the fix fails, saying what was there instead, when the re-synced table lacks the jump', async () => {
    // the recording's second listing of node1 (after the change) without mysql's new rule
    let listings = 0;
    const recorded = recordedEvents(NFTABLES).map((e) =>
      e.kind === 'observation' && e.what === 'rules' && typeof e.result === 'string' && ++listings === 3
        ? { ...e, result: e.result.replace('\t\tip daddr 10.96.207.61 jump mark-for-masquerade\n', '') }
        : e,
    );
    const ctx = replayContext(
      'edited.jsonl',
      recorded,
      narrator(() => undefined, true),
    );
    const results = await runWalkthrough(ctx, { interactive: false, json: true, startAt: 1, write: () => undefined });
    const fix = results[6]!;
    expect(fix.ok).toBe(false);
    expect(fix.claims.filter((c) => !c.ok).map((c) => c.text)).toEqual([
      '"ip daddr 10.96.207.61 jump mark-for-masquerade" appears in mysql\'s service chain, with no ip saddr match',
      "it is the first rule of mysql's service chain",
    ]);
  });
});

describe('the walkthrough on a run where masqueradeAll was on from the start', () => {
  test('the setup and the symptom fail, saying what was seen instead', async () => {
    const { results, text } = await replay(TAMPERED);
    expect(results[0]!.ok).toBe(false);
    expect(results[1]!.ok).toBe(false);
    const mysql = results[1]!.claims.find((c) => c.text.startsWith("mysql's ClusterIP hangs"))!;
    expect(mysql.ok).toBe(false);
    expect(mysql.saw).toMatch(/^answered in [\d.]+ ms, the pod saw 10\.0\.1\.11:\d+$/);
    expect(text).toContain('hint: if mysql answers, something already masquerades office traffic');
    expect(text).toMatch(/✗ \d+\/10 steps verified/);
  });
});

describe('narration', () => {
  test('wraps at 78 columns with an indent', () => {
    const out = wrap('word '.repeat(40), '  ');
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(78);
    expect(out.startsWith('  word')).toBe(true);
  });

  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
  const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
  const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007\u009b';

  test('what the steps say, run and show is written with control characters escaped', () => {
    let text = '';
    const out = narrator((t) => (text += t), false);
    out.say(`the pod answered ${HOSTILE}\nsecond paragraph`);
    out.command(`natscope lab request ${HOSTILE}`);
    out.block([`    tcp 6 SYN_SENT ${HOSTILE}`, 'ok']);
    expect(text).not.toMatch(RAW);
    expect(text).toContain('\\x1b[2J\\x1b]0;pwned\\x07\\x9b');
    expect(text.split('\n').length).toBeGreaterThanOrEqual(5);
  });

  test("a claim's text and what was seen instead are printed escaped; --json output is exact JSON with escapes", async () => {
    const recorded = recordedEvents(GOOD).map((e) =>
      e.kind === 'request' && e.peer ? { ...e, peer: `${e.peer}${HOSTILE}`, detail: HOSTILE } : e,
    );
    let text = '';
    const ctx = replayContext(
      'hostile.jsonl',
      recorded,
      narrator((t) => (text += t), false),
    );
    await runWalkthrough(ctx, { interactive: false, json: false, startAt: 1, write: (t) => (text += t) });
    expect(text).toContain('\\x1b[2J');
    expect(text).not.toMatch(RAW);
    let json = '';
    const again = replayContext(
      'hostile.jsonl',
      recorded,
      narrator(() => undefined, true),
    );
    await runWalkthrough(again, { interactive: false, json: true, startAt: 1, write: (t) => (json += t) });
    expect(json).not.toMatch(RAW);
    expect(
      json
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toHaveLength(10);
  });
});

describe('a walkthrough context on a recording', () => {
  test('is refused when the recording holds no lab status', () => {
    const recorded = recordedEvents(GOOD).filter((e) => e.kind !== 'status');
    expect(() =>
      replayContext(
        'run.jsonl',
        recorded,
        narrator(() => undefined, true),
      ),
    ).toThrow(/^run\.jsonl holds no lab status event$/);
  });

  test("is refused, naming what is missing, when the recording's lab is not the incident's", () => {
    const recorded = recordedEvents(GOOD).map((e) =>
      e.kind === 'status' && e.lab
        ? {
            ...e,
            lab: {
              ...e.lab,
              pods: e.lab.pods.filter((p) => p.name !== 'mysql'),
              hosts: { office: e.lab.hosts.office! },
            },
          }
        : e,
    );
    expect(() =>
      replayContext(
        'run.jsonl',
        recorded,
        narrator(() => undefined, true),
      ),
    ).toThrow(
      "run.jsonl was not recorded on natscope's incident lab: its lab has no host vpn, host node1, host node2, pod mysql",
    );
  });
});

describe("each step's text in each of kube-proxy's modes", () => {
  // what only one mode's rules have: iptables chains and keys, nftables chains and keys
  const IPTABLES_ONLY = /KUBE-(SVC|MARK-MASQ|SEP)|iptables\.masqueradeAll=|mode iptables|The fix: iptables/;
  const NFTABLES_ONLY = /mark-for-masquerade|cluster-ips-check|ip kube-proxy|nftables\.masqueradeAll=|mode nftables/;

  test('iptables mode tells each step as it always has: the step itself, nothing of nftables mode’s', () => {
    for (const step of STEPS) {
      const text = toldIn(step, 'iptables');
      expect(text).toEqual({ title: step.title, purpose: step.purpose, lookAt: step.lookAt, hint: step.hint });
      expect(`${text.title} ${text.lookAt} ${text.hint}`).not.toMatch(NFTABLES_ONLY);
    }
  });

  test('nftables mode tells no step in iptables words, and tells the setup, the ping and the fix in its own', () => {
    for (const step of STEPS) {
      const text = toldIn(step, 'nftables');
      expect(`${text.title} ${text.purpose} ${text.lookAt} ${text.hint}`, `step ${step.n}`).not.toMatch(IPTABLES_ONLY);
    }
    const told = (n: number) => toldIn(STEPS[n - 1]!, 'nftables');
    expect(told(1).lookAt).toMatch(/mode nftables, nftables\.masqueradeAll=false, no clusterCIDR/);
    expect(told(6).lookAt).toMatch(/Destination Port Unreachable from node1's address/);
    expect(told(6).purpose).toMatch(/cluster-ips-check/);
    expect(told(7).title).toBe('The fix: nftables.masqueradeAll');
    expect(told(7).lookAt).toMatch(/ip daddr <ClusterIP> jump mark-for-masquerade, with no ip saddr match/);
    expect(told(4).lookAt).toMatch(/no masquerade in chain masquerading \(no jump to mark-for-masquerade\)/);
    // the steps whose story is the same in both modes
    for (const n of [2, 3, 5, 8, 9, 10]) expect(told(n)).toEqual(toldIn(STEPS[n - 1]!, 'iptables'));
  });
});
