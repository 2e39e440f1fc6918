import { describeFlow, isVerdictDrop } from '../../../src/events/story.js';
import { formatEvent } from '../../../src/events/format.js';
import { claim, flowOf, outcomeText, request, type Step } from '../context.js';

export const confirm: Step = {
  n: 8,
  title: 'Confirm',
  purpose:
    "The same request again, with masqueradeAll on: it should now answer, and the kernel should show why. The SNAT address is the one MASQUERADE picks for the interface toward the pod: node1's eth0 here; flannel.1, tunl0 or the like on overlay networks.",
  lookAt:
    'node1 sets up a DNAT and an SNAT (to its address toward the pod); the reply passes node1 again; nothing is dropped.',
  hint: 'if mysql still hangs, the rules did not re-sync: natscope lab rules node1',
  needs: { masqueradeAll: true, clusterCIDR: null },
  async run(ctx) {
    const r = await request(ctx, 'mysql');
    await ctx.settle(1000);
    const flow = flowOf(ctx, r);
    const t0 = flow?.events[0]?.t ?? 0;
    ctx.out.block((flow?.events ?? []).slice(0, 10).map((e) => `    ${formatEvent(e, t0)}`));
    const story = flow ? describeFlow(flow, ctx.lab) : null;
    if (story) ctx.out.say(`The flow, hop by hop:\n    ${story.path}`);
    const node1 = ctx.lab.hosts.node1?.ip;
    const dnat = flow?.nat.find((n) => n.manip === 'DNAT');
    const snat = flow?.nat.find((n) => n.manip === 'SNAT');
    const fatal = flow?.drops.filter(isVerdictDrop) ?? [];
    return {
      claims: [
        claim('mysql answers', r.outcome === 'answered', outcomeText(r)),
        claim('node1 sets up the DNAT to the pod', dnat?.host === 'node1', dnat ? dnat.host : 'no DNAT'),
        claim(
          `node1 also SNATs the request to its own address ${node1}`,
          snat?.host === 'node1' && snat.to.ip === node1,
          snat ? `${snat.host} ⇒ ${snat.to.ip}` : 'no SNAT',
        ),
        claim(
          'no packet of this connection is dropped',
          fatal.length === 0,
          fatal.map((d) => `${d.host} ${d.reason}`).join(', '),
        ),
        claim(
          'the flow closes back at the office',
          story?.verdict === 'answered' && story.path.endsWith('office ✓'),
          story?.path ?? 'no flow',
        ),
      ],
      evidence: {
        request: { outcome: r.outcome, latencyMs: r.latencyMs, peer: r.peer },
        snat: snat ? snat.to : null,
        path: story?.path ?? null,
      },
    };
  },
};
