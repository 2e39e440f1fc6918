// Which rule did it, joined with what the kernel did, on the walkthrough's
// recordings (test/fixtures/recordings/README.md: live runs in the micro-VM,
// nftrace and the nat, conntrack and drop probes on the same requests): the
// rule path each traced request recorded, next to its flow's kernel events.

import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type Flow, FlowTracker } from '../../src/events/flows.js';
import type { NatscopeEvent, ProxyMode, RequestEvent, RulePath } from '../../src/events/types.js';
import { formatJoinedPath, type JoinedLine, joinRulePath } from '../../src/ruletrace/join.js';
import { chainNames } from '../../src/ruletrace/rulePath.js';
import { FIXTURES, recordedEvents } from '../helpers.js';

const RECORDINGS: Record<ProxyMode, string> = {
  iptables: join(FIXTURES, 'recordings', 'walkthrough.jsonl'),
  nftables: join(FIXTURES, 'recordings', 'walkthrough-nftables.jsonl'),
};
const MYSQL_POD = { ip: '10.244.2.2', port: 3306 };
const NODE1 = '10.0.1.11';

interface Traced {
  request: RequestEvent;
  path: RulePath;
  flow: Flow;
}

// Each traced request of a recording: its request event, the rule path
// recorded after it, and the flow its kernel events make.
function tracedRequests(events: NatscopeEvent[]): Traced[] {
  const tracker = new FlowTracker();
  for (const e of events) tracker.add(e);
  const traced: Traced[] = [];
  events.forEach((e, i) => {
    if (e.kind !== 'observation' || e.what !== 'rulePath') return;
    const request = events
      .slice(0, i)
      .reverse()
      .find((x): x is RequestEvent => x.kind === 'request' && x.target === e.subject);
    const flow = tracker.flows().find((f) => f.requests.some((r) => r === request));
    if (!request || !flow) throw new Error(`no request or flow for the rule path at event ${i}`);
    traced.push({ request, path: e.result, flow });
  });
  return traced;
}

function line(lines: JoinedLine[], host: string, what: JoinedLine['what']): JoinedLine {
  const found = lines.find((l) => l.host === host && l.what === what);
  if (!found) throw new Error(`no ${what} line for ${host}`);
  return found;
}

for (const mode of ['iptables', 'nftables'] as const) {
  describe(`the walkthrough's traced requests joined with their kernel events (${mode} mode)`, () => {
    const names = chainNames(mode);
    const traced = tracedRequests(recordedEvents(RECORDINGS[mode]));

    test('the recording holds two traced requests to mysql: before the fix and after it', () => {
      expect(traced.map((t) => [t.request.target, t.request.outcome, t.path.kubeProxy.masqueradeAll])).toEqual([
        ['mysql', 'timeout', false],
        ['mysql', 'answered', true],
      ]);
    });

    test("before the fix: node1's endpoint chain DNATs it, the very binding nf_nat_setup_info made", () => {
      const { lines } = joinRulePath(traced[0]!.path, traced[0]!.flow);
      const dnat = line(lines, 'node1', 'DNAT');
      expect(dnat.agree).toBe(true);
      expect(dnat.rules?.decision).toBe(`DNAT to ${MYSQL_POD.ip}:${MYSQL_POD.port}`);
      expect(dnat.rules?.steps[0]?.chain).toMatch(names.sep);
      expect(dnat.kernel?.nat).toMatchObject({ host: 'node1', manip: 'DNAT', to: MYSQL_POD });
      expect(dnat.kernel?.nat?.orig.sport).toBe(traced[0]!.request.sport);
      // only node1 NATs: no other host has a DNAT line
      expect(lines.filter((l) => l.what === 'DNAT').map((l) => l.host)).toEqual(['node1']);
    });

    test(`before the fix: no ${names.mark} rule matched, no masquerade in ${names.post}, and the kernel made no SNAT`, () => {
      const { lines } = joinRulePath(traced[0]!.path, traced[0]!.flow);
      const snat = line(lines, 'node1', 'SNAT');
      expect(snat).toMatchObject({
        agree: true,
        kernel: null,
        rules: { does: false, because: `no ${names.mark} rule matched: clusterCIDR unset, masqueradeAll false` },
      });
      // the return rule itself, where this kernel reports it; else the way into the chain
      expect(snat.rules?.decision).toMatch(
        new RegExp(
          `^no SNAT: (${names.post} returns|no rule of ${names.post} masquerades it) \\(mark 0x4000 not set\\)$`,
        ),
      );
      const steps = snat.rules?.steps ?? [];
      expect(steps.length).toBeGreaterThan(0);
      for (const s of steps)
        expect(s.chain === names.post || [`jump ${names.post}`, `jump ${names.services}`].includes(s.verdict)).toBe(
          true,
        );
    });

    test("before the fix: the vpn's ct state invalid drop in filter FORWARD is the drop the kernel reported", () => {
      const { lines } = joinRulePath(traced[0]!.path, traced[0]!.flow);
      const drop = line(lines, 'vpn', 'drop');
      expect(drop.agree).toBe(true);
      expect(drop.rules).toMatchObject({ direction: 'reply', decision: 'drop in filter FORWARD' });
      expect(drop.rules?.steps[0]?.rule).toMatch(/^ct state invalid .*drop$/);
      const kernel = drop.kernel!;
      expect(kernel.drops.length).toBeGreaterThanOrEqual(1);
      for (const d of kernel.drops)
        expect(d).toMatchObject({
          host: 'vpn',
          reason: 'NETFILTER_DROP',
          packet: { src: MYSQL_POD.ip, sport: MYSQL_POD.port, dport: traced[0]!.request.sport, flags: ['SYN', 'ACK'] },
        });
      // the vpn's conntrack entry: it expects the reply from the ClusterIP, not from the pod
      expect(kernel.conntrack?.reply).toMatchObject({ src: traced[0]!.request.dst, dst: traced[0]!.request.src });
    });

    test(`after the fix: the ${names.mark} jump in mysql's Service chain, then the masquerade, is the kernel's SNAT to node1`, () => {
      const { lines } = joinRulePath(traced[1]!.path, traced[1]!.flow);
      const snat = line(lines, 'node1', 'SNAT');
      expect(snat.agree).toBe(true);
      expect(snat.rules?.does).toBe(true);
      const chains = snat.rules?.steps.map((s) => s.chain) ?? [];
      expect(chains[0]).toMatch(names.svc);
      expect(chains.slice(1)).toEqual([names.mark, names.post]);
      expect(snat.rules?.steps[0]?.verdict).toBe(`jump ${names.mark}`);
      expect(snat.kernel?.nat).toMatchObject({ host: 'node1', manip: 'SNAT', to: { ip: NODE1 } });
      expect(line(lines, 'node1', 'DNAT').agree).toBe(true);
      // answered: nothing dropped, and node2 does not SNAT the masqueraded packet again
      expect(lines.filter((l) => l.what === 'drop')).toEqual([]);
      expect(line(lines, 'node2', 'SNAT')).toMatchObject({ agree: true, kernel: null, rules: { does: false } });
    });

    test("a rule path joined with another flow's kernel events disagrees, saying how", () => {
      // the path after the fix (masquerade) with the flow before it (no SNAT binding, the vpn's drop)
      const { lines } = joinRulePath(traced[1]!.path, traced[0]!.flow);
      expect(line(lines, 'node1', 'SNAT')).toMatchObject({
        agree: false,
        kernel: null,
        verdict: 'the rules SNAT it, but the kernel made no SNAT binding (is the nat probe attached?)',
      });
      expect(line(lines, 'vpn', 'drop')).toMatchObject({
        agree: false,
        rules: null,
        verdict: 'the kernel dropped it by a verdict no traced rule explains',
      });
      // and the other way round: a masquerade the rules never asked for
      const other = joinRulePath(traced[0]!.path, traced[1]!.flow).lines;
      expect(line(other, 'node1', 'SNAT')).toMatchObject({
        agree: false,
        verdict: `the rules do not SNAT it, yet the kernel bound SNAT to ${NODE1}`,
      });
      expect(line(other, 'vpn', 'drop')).toMatchObject({ agree: false, kernel: null });
    });

    test("a DNAT the kernel bound elsewhere than the rules' is told apart", () => {
      const { path, flow } = traced[0]!;
      const nat = flow.nat.map((n) => (n.manip === 'DNAT' ? { ...n, to: { ip: '10.244.1.2', port: 80 } } : n));
      const dnat = line(joinRulePath(path, { ...flow, nat }).lines, 'node1', 'DNAT');
      expect(dnat).toMatchObject({
        agree: false,
        verdict: `the rules DNAT to ${MYSQL_POD.ip}:${MYSQL_POD.port}, the kernel bound 10.244.1.2:80`,
      });
    });

    test('the hosts come in the order the request crosses them, each decision once', () => {
      const { lines } = joinRulePath(traced[0]!.path, traced[0]!.flow);
      expect(lines.map((l) => `${l.host} ${l.what}`)).toEqual(['vpn drop', 'node1 DNAT', 'node1 SNAT', 'node2 SNAT']);
    });

    test("a kind lab's nodes, named as kind names them in the rule path, meet their kernel events named by their part", () => {
      const kindName: Record<string, string> = { node1: 'natscope-worker (node1)', node2: 'natscope-worker2 (node2)' };
      for (const t of traced) {
        const path = { ...t.path, packets: t.path.packets.map((p) => ({ ...p, host: kindName[p.host] ?? p.host })) };
        const asKind = joinRulePath(path, t.flow).lines;
        const asNetns = joinRulePath(t.path, t.flow).lines;
        expect(asKind).toEqual(asNetns.map((l) => ({ ...l, host: kindName[l.host] ?? l.host })));
      }
    });

    test('for a terminal: the rules, the kernel and the verdict of each line, counters left out', () => {
      const text = formatJoinedPath(joinRulePath(traced[0]!.path, traced[0]!.flow));
      expect(text).toContain('vpn drop');
      expect(text).toContain('  ✓ the packet the rule dropped is the one the kernel freed');
      expect(text).toContain('  ✓ the same binding');
      expect(text.find((l) => l.startsWith('  kernel: nf_nat_setup_info DNAT tcp 192.168.10.10:'))).toMatch(
        / ⇒ dst 10\.244\.2\.2:3306$/,
      );
      expect(text.join('\n')).not.toMatch(/counter packets \d/);
    });
  });
}

test('what the kernel and the rules said is escaped before a terminal sees it', () => {
  const [before] = tracedRequests(recordedEvents(RECORDINGS.iptables));
  const hostile = '\u001b]0;pwned\u0007';
  const path: RulePath = {
    ...before!.path,
    packets: before!.path.packets.map((p) => ({
      ...p,
      steps: p.steps.map((s) => ({ ...s, chain: `${s.chain}${hostile}`, rule: `${s.rule}${hostile}` })),
    })),
  };
  const text = formatJoinedPath(joinRulePath(path, before!.flow)).join('\n');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
  expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
  expect(text).toContain('\\x1b]0;pwned\\x07');
});
