import type { CtNewEvent, RequestEvent } from '../../../src/events/types.js';
import { claim, flowOf, request, type Step } from '../context.js';

export const why: Step = {
  n: 5,
  title: 'Why',
  purpose:
    "Only node1 holds the DNAT state that would turn the pod's reply back into the ClusterIP. The reply leaves node2 as pod → client and is routed straight to the vpn: it never passes node1. The vpn's conntrack has seen a SYN to the ClusterIP, never one to the pod, so it marks the pod's SYN-ACK INVALID (whatever nf_conntrack_tcp_loose says) and the vpn's firewall rule, ctstate INVALID → DROP, drops it, as a stateful VPN or cloud firewall does. Elsewhere such replies die in IPsec policies whose selectors leave out the pod CIDR (drop reason XFRM_POLICY), in a cloud's source/destination checks, or in rp_filter on the VPN host.",
  lookAt:
    "node1's conntrack entry: the reply it expects comes from the pod to the client, and it has seen none ([UNREPLIED]).",
  hint: 'no entry: send a request first (natscope lab request mysql), then natscope lab conntrack node1',
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    const r =
      [...ctx.events]
        .reverse()
        .find((e): e is RequestEvent => e.kind === 'request' && e.target === 'mysql' && e.outcome === 'timeout') ??
      (await request(ctx, 'mysql'));
    ctx.out.command('natscope lab conntrack node1');
    const entries = await ctx.client.call({ cmd: 'conntrack', node: 'node1' });
    const entry = entries.find((e) => e.orig.src === r.src && e.orig.sport === r.sport);
    if (entry) ctx.out.block([`    ${entry.line}`]);
    const node2 = flowOf(ctx, r)?.events.find((e): e is CtNewEvent => e.kind === 'ct-new' && e.host === 'node2');
    const pod = ctx.lab.pods.find((p) => p.name === 'mysql')!;
    return {
      claims: [
        claim(
          `node1's entry expects the reply from ${pod.ip} to the client ${r.src}`,
          entry?.reply.src === pod.ip && entry.reply.dst === r.src,
          entry ? `reply ${entry.reply.src} → ${entry.reply.dst}` : 'no entry on node1',
        ),
        claim(
          'node1 has seen no reply: [UNREPLIED]',
          Boolean(entry?.flags.includes('UNREPLIED')),
          entry ? entry.flags.join(',') || 'no flags' : 'no entry',
        ),
        claim(
          "node2's entry has no NAT: it forwards the pod's reply as it is",
          Boolean(node2) && !node2!.status.includes('DST_NAT') && !node2!.status.includes('SRC_NAT'),
          node2 ? node2.status.join(',') : 'no node2 event for this request',
        ),
      ],
      evidence: {
        node1: entry ? { orig: entry.orig, reply: entry.reply, flags: entry.flags, state: entry.state } : null,
        node2Status: node2?.status ?? null,
      },
    };
  },
};
