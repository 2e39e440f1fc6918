// Which rule did it, next to what the kernel did: a request's rule path
// (the rules each host's first packet met, from nftrace) joined, host by
// host, with the kernel events of the same flow (nf_nat_setup_info's
// bindings, kfree_skb's drops, conntrack's new entries). Each NAT decision
// and each drop appears once, with the rules' side, the kernel's side and
// whether they say the same. Pure: the caller picks the flow
// (src/events/flows.ts) and prints the lines (formatJoinedPath).

import type {
  CtNewEvent,
  DropEvent,
  KernelEvent,
  KubeProxyConfig,
  NatEvent,
  RulePath,
  RuleStep,
} from '../events/types.js';
import { safeLine } from '../util/terminal.js';
import { withoutCounts } from './format.js';
import { chainNames, isMasqueradeRule, labPartOf, masqueradeReason } from './rulePath.js';

export type JoinedWhat = 'DNAT' | 'SNAT' | 'drop';

// What a host's rules decided for the traced packet.
export interface RuleSide {
  direction: 'request' | 'reply';
  // the traced packet as the host first saw it: "10.244.2.2:3306 → 192.168.10.10:26682 (syn | ack)"
  packet: string;
  // "DNAT to 10.244.2.2:3306", "masquerade", "no SNAT: KUBE-POSTROUTING returns", "drop: …"
  decision: string;
  // true: the rules do it; false: they decided not to (a return before the masquerade)
  does: boolean;
  // why kube-proxy wrote the rules that way (masqueradeAll, clusterCIDR), when it matters
  because: string | null;
  // the rules that made the decision, in the order the packet met them
  steps: RuleStep[];
}

// What the kernel did on that host, from the probes.
export interface KernelSide {
  // one line, e.g. "nf_nat_setup_info DNAT tcp 192.168.10.10:26682 → 10.96.207.61:3306 ⇒ 10.244.2.2:3306"
  text: string;
  nat: NatEvent | null;
  // every drop of the flow on that host (a retransmitted packet is dropped again)
  drops: DropEvent[];
  // the host's conntrack entry for the flow, when it explains the drop (what the host expects back)
  conntrack: CtNewEvent | null;
}

export interface JoinedLine {
  host: string;
  what: JoinedWhat;
  // null: no rule of the traced packets did or decided it
  rules: RuleSide | null;
  // null: the kernel did not do it (no binding, no drop)
  kernel: KernelSide | null;
  agree: boolean;
  // why they agree, or how they differ
  verdict: string;
}

export interface JoinedPath {
  kubeProxy: KubeProxyConfig;
  lines: JoinedLine[];
}

// What of a flow the join reads (a FlowTracker Flow has all of it).
export interface FlowEvents {
  nat: readonly NatEvent[];
  drops: readonly DropEvent[];
  events: readonly KernelEvent[];
}

const WHAT_ORDER: JoinedWhat[] = ['DNAT', 'SNAT', 'drop'];

function endpoint(ip: string, port: number): string {
  return `${ip}:${port}`;
}

function natText(e: NatEvent): string {
  const to = endpoint(e.to.ip, e.to.port);
  return `nf_nat_setup_info ${e.manip} ${e.proto} ${endpoint(e.orig.src, e.orig.sport)} → ${endpoint(e.orig.dst, e.orig.dport)} ⇒ ${e.manip === 'DNAT' ? 'dst' : 'src'} ${to}`;
}

function dropText(drops: DropEvent[]): string {
  const d = drops[0]!;
  const p = d.packet;
  const flags = p.flags.length ? ` [${p.flags.join(',')}]` : '';
  const times = drops.length > 1 ? ` (${drops.length} times: each retransmission)` : '';
  return `kfree_skb ${d.reason} at ${d.location}: ${p.proto} ${endpoint(p.src, p.sport)} → ${endpoint(p.dst, p.dport)}${flags}${times}`;
}

// "10.244.2.2:3306 → 192.168.10.10:26682 (syn | ack)": the traced packet's ends.
function packetEnds(packet: string): { src: string; dst: string } | null {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}:\d+) → (\d{1,3}(?:\.\d{1,3}){3}:\d+)/.exec(packet);
  return m ? { src: m[1]!, dst: m[2]! } : null;
}

const isJumpTo = (s: RuleStep, chain: string) => s.verdict === `jump ${chain}` || s.verdict === `goto ${chain}`;
const isMasquerade = (s: RuleStep) => isMasqueradeRule(s.rule);

// What the rules of one host decided, from its traced packets.
function ruleSides(path: RulePath, host: string): Partial<Record<JoinedWhat, RuleSide>> {
  const names = chainNames(path.kubeProxy.mode);
  const sides: Partial<Record<JoinedWhat, RuleSide>> = {};
  for (const p of path.packets.filter((x) => x.host === host)) {
    const client = packetEnds(p.packet)?.src.split(':')[0] ?? '';
    const dnat = p.steps.find((s) => s.meaning?.startsWith('DNAT to '));
    if (p.direction === 'request' && dnat && !sides.DNAT)
      sides.DNAT = {
        direction: p.direction,
        packet: p.packet,
        decision: dnat.meaning ?? '',
        does: true,
        because: null,
        steps: [dnat],
      };
    const marks = p.steps.filter((s) => isJumpTo(s, names.mark) || s.chain === names.mark);
    const masquerade = p.steps.find((s) => s.chain === names.post && isMasquerade(s));
    const returns = p.steps.find((s) => s.chain === names.post && s.verdict === 'return');
    // Traces from Debian 12's kernel (6.1) held no rule line for
    // KUBE-POSTROUTING's return (6.18's do): entering
    // that chain (iptables mode), or kube-proxy's services chain at all
    // (nftables mode, whose masquerading chain is a base chain every first
    // packet passes), and meeting no masquerade says the same
    const enters = p.steps.find((s) => isJumpTo(s, names.post)) ?? p.steps.find((s) => isJumpTo(s, names.services));
    if (p.direction === 'request' && !sides.SNAT && (masquerade || returns || enters)) {
      const why = masqueradeReason(path.kubeProxy, client);
      const jump = marks.find((s) => isJumpTo(s, names.mark));
      sides.SNAT = masquerade
        ? {
            direction: p.direction,
            packet: p.packet,
            decision: 'masquerade: SNAT to the address this host sends from',
            does: true,
            because: jump ? `${names.mark} matched in ${jump.chain} (${why.why})` : `no ${names.mark} rule matched`,
            steps: [...marks, masquerade],
          }
        : {
            direction: p.direction,
            packet: p.packet,
            decision: returns
              ? `no SNAT: ${names.post} returns (mark 0x4000 not set)`
              : `no SNAT: no rule of ${names.post} masquerades it (mark 0x4000 not set)`,
            does: false,
            // only a packet the node DNATs had a mark to expect
            because: dnat && marks.length === 0 ? `no ${names.mark} rule matched: ${why.why}` : null,
            steps: [...marks, ...(enters ? [enters] : []), ...(returns ? [returns] : [])],
          };
    }
    const drop = p.steps.find((s) => s.meaning?.startsWith('DROP'));
    if (drop && !sides.drop)
      sides.drop = {
        direction: p.direction,
        packet: p.packet,
        decision: `drop in ${drop.table} ${drop.chain}${drop.rule === 'policy' ? ' (policy)' : ''}`,
        does: true,
        because: drop.meaning,
        steps: [drop],
      };
  }
  return sides;
}

// What the kernel did on one host: its bindings, and its verdict drops (NETFILTER_DROP:
// what a rule's drop or reject frees; other reasons are not the rules' doing).
function kernelSides(flow: FlowEvents, host: string): Partial<Record<JoinedWhat, KernelSide>> {
  const sides: Partial<Record<JoinedWhat, KernelSide>> = {};
  for (const manip of ['DNAT', 'SNAT'] as const) {
    const nat = flow.nat.find((n) => n.host === host && n.manip === manip);
    if (nat) sides[manip] = { text: natText(nat), nat, drops: [], conntrack: null };
  }
  const drops = flow.drops.filter((d) => d.host === host && d.reason === 'NETFILTER_DROP');
  if (drops.length) {
    const conntrack =
      flow.events.find((e): e is CtNewEvent => e.kind === 'ct-new' && e.host === host && e.t <= drops[0]!.t) ?? null;
    sides.drop = { text: dropText(drops), nat: null, drops, conntrack };
  }
  return sides;
}

function verdictOf(
  what: JoinedWhat,
  rules: RuleSide | null,
  kernel: KernelSide | null,
): { agree: boolean; verdict: string } {
  if (what === 'drop') {
    if (rules && kernel) {
      const ends = packetEnds(rules.packet);
      const p = kernel.drops[0]!.packet;
      const same = ends === null || (ends.src === endpoint(p.src, p.sport) && ends.dst === endpoint(p.dst, p.dport));
      return same
        ? { agree: true, verdict: 'the packet the rule dropped is the one the kernel freed' }
        : {
            agree: false,
            verdict: `the rule dropped ${ends.src} → ${ends.dst}, the kernel freed ${endpoint(p.src, p.sport)} → ${endpoint(p.dst, p.dport)}`,
          };
    }
    return rules
      ? {
          agree: false,
          verdict: 'the rules drop it, but the kernel reported no NETFILTER_DROP (is the drop probe attached?)',
        }
      : { agree: false, verdict: 'the kernel dropped it by a verdict no traced rule explains' };
  }
  const nat = kernel?.nat ?? null;
  if (rules?.does) {
    if (!nat)
      return {
        agree: false,
        verdict: `the rules ${what} it, but the kernel made no ${what} binding (is the nat probe attached?)`,
      };
    if (what === 'DNAT') {
      const to = endpoint(nat.to.ip, nat.to.port);
      return rules.decision === `DNAT to ${to}`
        ? { agree: true, verdict: 'the same binding' }
        : { agree: false, verdict: `the rules ${rules.decision}, the kernel bound ${to}` };
    }
    return { agree: true, verdict: `the kernel's SNAT to ${nat.to.ip} is that masquerade` };
  }
  if (rules) {
    return nat
      ? { agree: false, verdict: `the rules do not ${what} it, yet the kernel bound ${what} to ${nat.to.ip}` }
      : { agree: true, verdict: `no ${what} binding in the kernel either` };
  }
  return { agree: false, verdict: `the kernel made a ${what} binding no traced rule explains` };
}

// The rule path joined with the flow's kernel events, host by host.
export function joinRulePath(path: RulePath, flow: FlowEvents): JoinedPath {
  // the rule path tells the requests in the order they cross the hosts
  // (rulePath.ts): that order, then hosts only the kernel's events name
  // (a kind node's events are matched by its part in the lab: labPartOf)
  const traced = [...new Set(path.packets.map((p) => p.host))];
  const parts = new Set(traced.map(labPartOf));
  const hosts = [...traced, ...new Set(flow.events.map((e) => e.host).filter((h) => !parts.has(h)))];
  const lines: JoinedLine[] = [];
  for (const host of hosts) {
    const rules = ruleSides(path, host);
    const kernel = kernelSides(flow, labPartOf(host));
    for (const what of WHAT_ORDER) {
      const r = rules[what] ?? null;
      const k = kernel[what] ?? null;
      if (!r && !k) continue;
      lines.push({ host, what, rules: r, kernel: k, ...verdictOf(what, r, k) });
    }
  }
  return { kubeProxy: path.kubeProxy, lines };
}

function ruleText(s: RuleStep): string {
  const handle = s.handle === null ? '' : ` #${s.handle}`;
  return `${s.table} ${s.chain}${handle}: ${withoutCounts(s.rule)} → ${s.verdict}`;
}

// The joined path for a terminal: per host and decision, the rules, the
// kernel, and ✓ or ✗. Rule text and addresses come from the kernel: every
// line goes through safeLine.
export function formatJoinedPath(joined: JoinedPath): string[] {
  const lines: string[] = [];
  for (const l of joined.lines) {
    lines.push(`${l.host} ${l.what}`);
    if (l.rules) {
      lines.push(`  rules:  ${l.rules.decision}${l.rules.because ? ` (${l.rules.because})` : ''}`);
      for (const s of l.rules.steps) lines.push(`          ${ruleText(s)}`);
    } else lines.push('  rules:  no traced rule did it');
    if (l.kernel) {
      lines.push(`  kernel: ${l.kernel.text}`);
      const ct = l.kernel.conntrack;
      const dropped = l.kernel.drops[0]?.packet;
      const expected = ct ? endpoint(ct.reply.src, ct.reply.sport) : '';
      if (ct && dropped && expected !== endpoint(dropped.src, dropped.sport))
        lines.push(
          `          ${l.host}'s conntrack entry (${endpoint(ct.orig.src, ct.orig.sport)} → ${endpoint(ct.orig.dst, ct.orig.dport)}) expects the reply from ${expected}, not from ${endpoint(dropped.src, dropped.sport)}: INVALID`,
        );
    } else lines.push(`  kernel: no ${l.what === 'drop' ? 'NETFILTER_DROP' : `${l.what} binding`}`);
    lines.push(`  ${l.agree ? '✓' : '✗'} ${l.verdict}`);
  }
  return lines.map(safeLine);
}
