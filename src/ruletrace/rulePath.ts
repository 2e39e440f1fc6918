// Which rule did it: one request's trace records turned into the path its
// packets took through each host's rules, with what each kube-proxy rule
// means and the setting behind each decision (masqueradeAll, clusterCIDR).
// Only the first packet each way on each host is explained: conntrack sends
// the rest of a connection past the nat chains, so the first packet's path
// is where NAT was decided.

import { z } from 'zod';
import { amount, count } from '../events/fields.js';
import {
  type KubeProxyConfig,
  type PacketPath,
  PacketPathSchema,
  RequestEventSchema,
  type RulePath,
  RulePathSchema,
  type RuleStep,
  RuleStepSchema,
} from '../events/types.js';
import type { PacketFields, TraceRecord, Verdict } from './traceLine.js';
import { TRACE_TABLE, type TracedFlow, isProbe, packetsOf } from './traceTable.js';

// The rule path's schemas are declared with the events (it is recorded as
// an observation); they are exported from here too, where the path is built.
export { type PacketPath, PacketPathSchema, type RulePath, RulePathSchema, type RuleStep, RuleStepSchema };

// One traced request as `trace --rules` reports it (and the agent answers it).
export const RuleTraceSchema = z.object({
  request: RequestEventSchema,
  rulePath: RulePathSchema,
  // per host, the lines of nft's output that were not valid trace lines
  skipped: z.record(z.string(), count),
  timing: z.object({ requestMs: amount, totalMs: amount }),
});
export type RuleTrace = z.infer<typeof RuleTraceSchema>;

// kube-proxy's chain names for the roles the explanation speaks of.
export function chainNames(mode: KubeProxyConfig['mode']) {
  return mode === 'iptables'
    ? {
        services: 'KUBE-SERVICES',
        mark: 'KUBE-MARK-MASQ',
        post: 'KUBE-POSTROUTING',
        svc: /^KUBE-SVC-/,
        sep: /^KUBE-SEP-/,
      }
    : // service-<hash>-ns/name/proto/port and endpoint-<hash>-…, not service-endpoints-check
      {
        services: 'services',
        mark: 'mark-for-masquerade',
        post: 'masquerading',
        svc: /^service-[A-Z0-9]{8}-/,
        sep: /^endpoint-[A-Z0-9]{8}-/,
      };
}

// A traced host may be named beyond the lab's part it plays: a kind node is
// "natscope-worker (node1)" in the rule path (lab/kind/ruleTrace.ts), while
// the kernel's events name it by that part, node1. The part, from either name.
export function labPartOf(tracedHost: string): string {
  return /^\S+ \(([a-z][a-z0-9-]{0,31})\)$/.exec(tracedHost)?.[1] ?? tracedHost;
}

// Why kube-proxy wrote (or did not write) a mark-for-masquerade rule for this client.
export function masqueradeReason(kp: KubeProxyConfig, client: string): { marks: boolean; why: string } {
  if (kp.masqueradeAll) return { marks: true, why: 'masqueradeAll true' };
  if (kp.clusterCIDR === null) return { marks: false, why: 'clusterCIDR unset, masqueradeAll false' };
  const inside = inCidr(client, kp.clusterCIDR);
  return inside
    ? { marks: false, why: `the client ${client} is inside clusterCIDR ${kp.clusterCIDR}` }
    : { marks: true, why: `the client ${client} is outside clusterCIDR ${kp.clusterCIDR}` };
}

function toNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base = '', bitsText = '32'] = cidr.split('/');
  const bits = Number(bitsText);
  const size = 2 ** (32 - bits);
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size);
}

function verdictText(v: Verdict): string {
  return v.target ? `${v.kind} ${v.target}` : v.kind;
}

function describePacket(p: PacketFields | null): string {
  if (!p) return '(packet not printed)';
  const end = (ip: string | null, port: number | null) => `${ip ?? '?'}${port === null ? '' : `:${port}`}`;
  return `${end(p.saddr, p.sport)} → ${end(p.daddr, p.dport)}${p.tcpFlags ? ` (${p.tcpFlags})` : ''}`;
}

function isRequest(p: PacketFields | null, flow: TracedFlow): boolean {
  if (!p) return false;
  if (p.saddr === flow.client && p.sport === flow.clientPort) return true;
  const leg = flow.masqueradedLeg;
  return leg !== null && p.saddr === leg.node && p.daddr === leg.endpoint && p.dport === leg.endpointPort;
}

// A rule's text is nft's (nftrace: "… dnat to 10.244.2.2:3306") or
// iptables-save's (xt TRACE of legacy rules: "… -j DNAT --to-destination 10.244.2.2:3306").

// Where a DNAT rule sends the packet, or null for another rule.
export function dnatDestination(rule: string): string | null {
  return (/\bdnat to (\S+)/.exec(rule) ?? /-j DNAT --to-destination (\S+)/.exec(rule))?.[1] ?? null;
}

// Whether the rule masquerades: the statement, not a chain named after it (mark-for-masquerade).
export function isMasqueradeRule(rule: string): boolean {
  return /(?:^| )masquerade(?: |$)/.test(rule) || /(?:^| )-j MASQUERADE(?: |$)/.test(rule);
}

// The meaning of one rule the packet met.
function meaningOf(r: TraceRecord & { kind: 'rule' }, kp: KubeProxyConfig, client: string): string | null {
  const names = chainNames(kp.mode);
  const dnat = dnatDestination(r.rule);
  if (dnat) return `DNAT to ${dnat}`;
  if (isMasqueradeRule(r.rule)) return 'MASQUERADE: SNAT to this node’s address';
  const v = r.verdict;
  if ((v.kind === 'jump' || v.kind === 'goto') && v.target === names.mark) {
    if (names.sep.test(r.chain)) return 'marked for SNAT: hairpin (the pod calls its own Service)';
    return `marked for SNAT (${masqueradeReason(kp, client).why})`;
  }
  if (r.chain === names.mark) return 'sets mark 0x4000: SNAT on the way out';
  if (r.chain === names.post && v.kind === 'return') return 'returns: mark 0x4000 not set → no SNAT';
  if ((v.kind === 'jump' || v.kind === 'goto') && names.svc.test(v.target ?? '')) return 'to the Service’s chain';
  if ((v.kind === 'jump' || v.kind === 'goto') && names.sep.test(v.target ?? '')) return 'to an endpoint’s chain';
  if (v.kind === 'drop') {
    if (/ct state invalid|ctstate INVALID/i.test(r.rule))
      return 'DROP: conntrack state INVALID (a reply to a request this host never saw)';
    // nft reports a reject as verdict drop (the ICMP error is sent by the rule itself)
    return /\breject\b|-j REJECT\b/.test(r.rule) ? 'DROP: rejected' : 'DROP';
  }
  return null;
}

function stepsOf(records: TraceRecord[], kp: KubeProxyConfig, client: string): RuleStep[] {
  const steps: RuleStep[] = [];
  for (const r of records) {
    if (r.table === TRACE_TABLE) continue;
    if (r.kind === 'rule')
      steps.push({
        table: r.table,
        chain: r.chain,
        rule: r.rule,
        handle: r.handle,
        verdict: verdictText(r.verdict),
        meaning: meaningOf(r, kp, client),
      });
    else if (r.kind === 'policy' && r.verdict.kind === 'drop')
      steps.push({
        table: r.table,
        chain: r.chain,
        rule: 'policy',
        handle: null,
        verdict: 'drop',
        meaning: 'DROP: the chain’s policy',
      });
  }
  return steps;
}

// NAT decisions and drops of one packet, with the "because" for the node that DNATs without marking.
function outcomeOf(steps: RuleStep[], kp: KubeProxyConfig, client: string): string[] {
  const names = chainNames(kp.mode);
  const out: string[] = [];
  const dnat = steps.find((s) => s.meaning?.startsWith('DNAT'));
  const marked = steps.some((s) => s.verdict === `jump ${names.mark}` || s.verdict === `goto ${names.mark}`);
  if (dnat) {
    out.push(dnat.meaning ?? 'DNAT');
    if (!marked) out.push(`no ${names.mark}: ${masqueradeReason(kp, client).why}`);
  }
  if (steps.some((s) => s.meaning?.startsWith('MASQUERADE'))) out.push('MASQUERADE: SNAT to this node’s address');
  else if (steps.some((s) => s.chain === names.post && s.verdict === 'return'))
    out.push(`${names.post} returns (mark 0x4000 not set) → no SNAT`);
  const drop = steps.find((s) => s.meaning?.startsWith('DROP'));
  if (drop) out.push(`dropped by ${drop.table} ${drop.chain}${drop.rule === 'policy' ? ' (policy)' : ''}`);
  return out;
}

// The kube-proxy chains a packet entered, in order.
function chainsEntered(steps: RuleStep[], kp: KubeProxyConfig): string[] {
  const names = chainNames(kp.mode);
  const kube = (c: string) =>
    c === names.services || c === names.mark || c === names.post || names.svc.test(c) || names.sep.test(c);
  const seen: string[] = [];
  for (const s of steps) {
    const target = /^(?:jump|goto) (\S+)$/.exec(s.verdict)?.[1];
    if (target && kube(target) && !seen.includes(target)) seen.push(target);
  }
  return seen;
}

// The rule path of one traced request, from each host's trace records; the
// hosts in the order the request crosses them (the lab's names for them: the
// netns lab's office, vpn, node1, node2, or a kind lab's containers), which
// is the order requests are told in, and replies in reverse.
export function explainRulePath(
  hosts: { host: string; records: TraceRecord[] }[],
  flow: TracedFlow,
  kubeProxy: KubeProxyConfig,
): RulePath {
  const packets: PacketPath[] = [];
  for (const h of hosts) {
    const first: Partial<Record<'request' | 'reply', PacketPath>> = {};
    for (const records of packetsOf(h.records)) {
      if (isProbe(records)) continue;
      const id = records[0]?.id ?? '';
      const found = records.find((r) => r.kind === 'packet');
      const fields = found?.kind === 'packet' ? found.packet : null;
      const direction = isRequest(fields, flow) ? 'request' : 'reply';
      const already = first[direction];
      if (already) {
        already.morePackets++;
        continue;
      }
      const steps = stepsOf(records, kubeProxy, flow.client);
      first[direction] = {
        host: h.host,
        direction,
        traceId: id,
        packet: describePacket(fields),
        steps,
        outcome: outcomeOf(steps, kubeProxy, flow.client),
        morePackets: 0,
      };
    }
    for (const p of [first.request, first.reply]) if (p) packets.push(p);
  }
  const order = hosts.map((h) => h.host);
  const rank = (p: PacketPath) => {
    const i = order.indexOf(p.host);
    return p.direction === 'request' ? i : order.length + (order.length - i);
  };
  packets.sort((a, b) => rank(a) - rank(b));
  const summary = packets
    .filter((p) => p.steps.length > 0)
    .map((p) => {
      const chains = chainsEntered(p.steps, kubeProxy);
      const parts = [...(chains.length ? [chains.join(' → ')] : []), ...p.outcome];
      return `${p.host} ${p.direction} ${p.packet}: ${parts.length ? parts.join('; ') : 'no NAT, not dropped'}`;
    });
  return { mode: kubeProxy.mode, kubeProxy, packets, summary };
}
