import { claim, outcomeText, request, table, type Step } from '../context.js';
import type { RequestEvent } from '../../../src/events/types.js';

export const symptom: Step = {
  n: 2,
  title: 'The symptom',
  purpose: 'Symptom first: from the office, some Services answer and others hang, while every pod IP answers.',
  lookAt: 'which ClusterIPs answer: nginx does, mysql hangs; both pod IPs answer.',
  hint: 'if mysql answers, something already masquerades office traffic: check natscope lab status (masqueradeAll, clusterCIDR)',
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    const results: Record<string, RequestEvent> = {};
    for (const target of ['nginx', 'mysql', 'pod/nginx', 'pod/mysql']) results[target] = await request(ctx, target);
    ctx.out.block(
      table([
        ['target', 'address', 'result'],
        ...Object.entries(results).map(([t, r]) => [t, `${r.dst}:${r.dport}`, outcomeText(r)]),
      ]).map((l) => `    ${l}`),
    );
    const answered = (t: string) => results[t]!.outcome === 'answered';
    return {
      claims: [
        claim("nginx's ClusterIP answers", answered('nginx'), outcomeText(results.nginx!)),
        claim("mysql's ClusterIP hangs (no answer)", results.mysql!.outcome === 'timeout', outcomeText(results.mysql!)),
        claim(
          'both pod IPs answer',
          answered('pod/nginx') && answered('pod/mysql'),
          `${outcomeText(results['pod/nginx']!)}; ${outcomeText(results['pod/mysql']!)}`,
        ),
      ],
      evidence: Object.fromEntries(
        Object.entries(results).map(([t, r]) => [t, { outcome: r.outcome, latencyMs: r.latencyMs, peer: r.peer }]),
      ),
    };
  },
};
