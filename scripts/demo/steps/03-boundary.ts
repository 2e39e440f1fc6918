import { claim, nodeByIp, request, routeVia, table, type Step } from '../context.js';
import type { RequestEvent } from '../../../src/events/types.js';

export const boundary: Step = {
  n: 3,
  title: 'The boundary',
  purpose:
    'Where does it break? A Service works exactly when its pod runs on the node that the Service CIDR route points to.',
  lookAt: "the node of each Service's pod next to whether the Service answered.",
  hint: "compare natscope lab status (where each pod runs) with the vpn's routes",
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    const routes = await ctx.client.call({ cmd: 'routes', host: 'vpn' });
    const entry = nodeByIp(ctx.lab, routeVia(routes, ctx.lab.serviceCIDR));
    const rows: { service: string; node: string; answered: boolean }[] = [];
    for (const s of ctx.lab.services) {
      // the latest request of this run, or a fresh one
      const earlier = [...ctx.events]
        .reverse()
        .find((e): e is RequestEvent => e.kind === 'request' && e.target === s.name);
      const r = earlier ?? (await request(ctx, s.name));
      rows.push({ service: s.name, node: s.endpoints[0]?.node ?? '?', answered: r.outcome === 'answered' });
    }
    ctx.out.block(
      table([
        ['service', 'pod runs on', 'answers?'],
        ...rows.map((r) => [r.service, r.node, r.answered ? 'yes' : 'NO']),
      ]).map((l) => `    ${l}`),
    );
    ctx.out.say(`The Service CIDR goes to ${entry}. Only Services whose pod is on ${entry} answer.`);
    return {
      claims: [
        claim(
          `a Service answers exactly when its pod is on ${entry}, the node the Service CIDR is routed to`,
          rows.every((r) => r.answered === (r.node === entry)),
          JSON.stringify(rows),
        ),
      ],
      evidence: { serviceCidrNode: entry, services: rows },
    };
  },
};
