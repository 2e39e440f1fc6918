import { formatEvent } from '../../../src/events/format.js';
import { describeFlow } from '../../../src/events/story.js';
import type { CtNewEvent, DropEvent, NatEvent } from '../../../src/events/types.js';
import { formatJoinedPath, type JoinedPath, joinRulePath } from '../../../src/ruletrace/join.js';
import { chainNames } from '../../../src/ruletrace/rulePath.js';
import { type Claim, claim, flowOf, proxyMode, type Step, tracedRequest } from '../context.js';

export const traceIt: Step = {
  n: 4,
  title: 'Trace it',
  purpose:
    "With the probes attached (nf_nat_setup_info, conntrack confirm/delete, the kfree_skb drop tracepoint), send one request to mysql and follow it through the kernels of every host. The request also goes out with the kernel's rule tracing on (nftrace): each host reports the rules its packets met, and each rule's decision is put next to what the kernel then did.",
  lookAt:
    "node1's DNAT, node2's conntrack entry (the reply will go from the pod straight to the client), and the drop at the vpn; then which rule did each: the KUBE-SEP chain's DNAT, no masquerade in KUBE-POSTROUTING (no KUBE-MARK-MASQ matched), the vpn's ct state invalid drop.",
  hint: 'no events means the probes are not attached: natscope doctor tells why',
  nftables: {
    lookAt:
      "node1's DNAT, node2's conntrack entry (the reply will go from the pod straight to the client), and the drop at the vpn; then which rule did each: the endpoint chain's DNAT, no masquerade in chain masquerading (no jump to mark-for-masquerade), the vpn's ct state invalid drop.",
  },
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    const tracing = ctx.events.find((e) => e.kind === 'status' && e.state === 'tracing');
    ctx.out.say(
      tracing && tracing.kind === 'status'
        ? `Probes attached: ${tracing.probes.join(', ')} (${tracing.where}).`
        : 'No tracer is attached.',
    );
    const traced = await tracedRequest(ctx, 'mysql');
    const r = traced.request;
    await ctx.settle(2500); // the pod retransmits its SYN-ACK: the vpn drops each one
    const flow = flowOf(ctx, r);
    const t0 = flow?.events[0]?.t ?? 0;
    ctx.out.block((flow?.events ?? []).slice(0, 12).map((e) => `    ${formatEvent(e, t0)}`));
    const story = flow ? describeFlow(flow, ctx.lab) : null;
    if (story) ctx.out.say(`The flow, hop by hop:\n    ${story.path}`);
    const dnat = flow?.nat.find((n: NatEvent) => n.manip === 'DNAT');
    const node2 = flow?.events.find((e): e is CtNewEvent => e.kind === 'ct-new' && e.host === 'node2');
    const vpnDrop = flow?.drops.find((d: DropEvent) => d.host === 'vpn');
    const mysqlPod = ctx.lab.pods.find((p) => p.name === 'mysql')!;
    const joined = flow ? joinRulePath(traced.rulePath, flow) : null;
    if (joined)
      ctx.out.say("Which rule did it, next to what the kernel did (the rules' trace joined with the flow's events):");
    if (joined) ctx.out.block(formatJoinedPath(joined).map((l) => `    ${l}`));
    return {
      claims: [
        claim('the probes are attached', Boolean(tracing)),
        claim(
          `node1 DNATs ${r.src}:${r.sport} → ${r.dst}:${r.dport} to the pod ${mysqlPod.ip}:${mysqlPod.port}`,
          dnat?.host === 'node1' && dnat.to.ip === mysqlPod.ip && dnat.orig.sport === r.sport,
          dnat ? `${dnat.host}: ⇒ ${dnat.to.ip}:${dnat.to.port}` : 'no DNAT event',
        ),
        claim('no host SNATs it', Boolean(flow) && !flow!.nat.some((n) => n.manip === 'SNAT'), 'an SNAT binding'),
        claim(
          `node2 sees the client's own address, so the pod answers ${mysqlPod.ip} → ${r.src}`,
          node2?.orig.src === r.src && node2.reply.dst === r.src,
          node2 ? `node2 saw ${node2.orig.src}` : 'no conntrack entry on node2',
        ),
        claim(
          "the vpn drops the pod's SYN-ACK: NETFILTER_DROP",
          vpnDrop?.reason === 'NETFILTER_DROP' &&
            vpnDrop.packet.src === mysqlPod.ip &&
            vpnDrop.packet.flags.includes('SYN'),
          vpnDrop ? `${vpnDrop.reason} of ${vpnDrop.packet.src}` : 'no drop at the vpn',
        ),
        ...ruleClaims(joined, proxyMode(ctx)),
      ],
      evidence: {
        request: { src: r.src, sport: r.sport, outcome: r.outcome },
        dnat: dnat ? { host: dnat.host, to: dnat.to } : null,
        node2: node2 ? { orig: node2.orig, reply: node2.reply, status: node2.status } : null,
        drop: vpnDrop
          ? { host: vpnDrop.host, reason: vpnDrop.reason, location: vpnDrop.location, packet: vpnDrop.packet }
          : null,
        path: story?.path ?? null,
        joined: joined?.lines.map((l) => ({ host: l.host, what: l.what, agree: l.agree, verdict: l.verdict })) ?? null,
      },
    };
  },
};

// The rules' side of the incident, joined with the kernel's: which rule DNATed
// the request, why none marked it for SNAT, and which rule dropped the reply.
function ruleClaims(joined: JoinedPath | null, mode: ReturnType<typeof proxyMode>): Claim[] {
  const names = chainNames(mode);
  const line = (host: string, what: 'DNAT' | 'SNAT' | 'drop') =>
    joined?.lines.find((l) => l.host === host && l.what === what);
  const saw = (host: string, what: 'DNAT' | 'SNAT' | 'drop') => {
    const l = line(host, what);
    return l
      ? `${l.rules?.decision ?? 'no rule'}; ${l.kernel?.text ?? 'nothing in the kernel'}: ${l.verdict}`
      : `no ${what} on ${host} in the joined path`;
  };
  const dnat = line('node1', 'DNAT');
  const dnatChain = dnat?.rules?.steps[0]?.chain;
  const snat = line('node1', 'SNAT');
  const kp = joined?.kubeProxy;
  const drop = line('vpn', 'drop');
  const dropRule = drop?.rules?.steps[0];
  return [
    claim(
      `node1's rules DNAT it in ${dnatChain ?? (mode === 'iptables' ? 'KUBE-SEP-…' : 'endpoint-…')}, the same binding the kernel made`,
      Boolean(dnat?.agree && dnat.kernel && dnatChain && names.sep.test(dnatChain)),
      saw('node1', 'DNAT'),
    ),
    claim(
      `no ${names.mark} rule matched: masqueradeAll false, clusterCIDR unset: no SNAT, in the rules or in the kernel`,
      Boolean(
        snat?.agree &&
          snat.rules &&
          !snat.rules.does &&
          !snat.rules.steps.some((s) => s.verdict === `jump ${names.mark}` || s.verdict === `goto ${names.mark}`) &&
          kp?.masqueradeAll === false &&
          kp.clusterCIDR === null,
      ),
      saw('node1', 'SNAT'),
    ),
    claim(
      "the vpn's rule that dropped the reply is the ct state invalid drop in filter FORWARD, and it dropped the packet the kernel freed",
      Boolean(
        drop?.agree &&
          drop.rules?.direction === 'reply' &&
          dropRule?.table === 'filter' &&
          dropRule.chain === 'FORWARD' &&
          /ct state invalid/i.test(dropRule.rule),
      ),
      saw('vpn', 'drop'),
    ),
  ];
}
