import { formatEvent } from '../../../src/events/format.js';
import { describeFlow } from '../../../src/events/story.js';
import type { CtNewEvent, DropEvent, NatEvent } from '../../../src/events/types.js';
import { claim, flowOf, request, type Step } from '../context.js';

export const traceIt: Step = {
  n: 4,
  title: 'Trace it',
  purpose:
    'With the probes attached (nf_nat_setup_info, conntrack confirm/delete, the kfree_skb drop tracepoint), send one request to mysql and follow it through the kernels of every host.',
  lookAt:
    "node1's DNAT, node2's conntrack entry (the reply will go from the pod straight to the client), and the drop at the vpn.",
  hint: 'no events means the probes are not attached: natscope doctor tells why',
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    const tracing = ctx.events.find((e) => e.kind === 'status' && e.state === 'tracing');
    ctx.out.say(
      tracing && tracing.kind === 'status'
        ? `Probes attached: ${tracing.probes.join(', ')} (${tracing.where}).`
        : 'No tracer is attached.',
    );
    const r = await request(ctx, 'mysql');
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
      ],
      evidence: {
        request: { src: r.src, sport: r.sport, outcome: r.outcome },
        dnat: dnat ? { host: dnat.host, to: dnat.to } : null,
        node2: node2 ? { orig: node2.orig, reply: node2.reply, status: node2.status } : null,
        drop: vpnDrop
          ? { host: vpnDrop.host, reason: vpnDrop.reason, location: vpnDrop.location, packet: vpnDrop.packet }
          : null,
        path: story?.path ?? null,
      },
    };
  },
};
