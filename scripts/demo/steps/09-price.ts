import type { LoadResult } from '../../../src/lab/lab.js';
import type { RequestEvent } from '../../../src/events/types.js';
import { claim, outcomeText, request, setKubeProxy, type Step } from '../context.js';

const LOAD_SECONDS = 2;

export const price: Step = {
  n: 9,
  title: 'The price',
  purpose:
    "Both fixes cost the pod the client's real address: it now sees node1. The other fix, a clusterCIDR (kube-proxy then masquerades only traffic from outside the pod network), does the same for the office and keeps pod-to-pod traffic unmasqueraded. LoadBalancer and NodePort Services with externalTrafficPolicy: Cluster masquerade too; only Local keeps the client's address. And SNAT is per-connection work on node1: measured here, same run, same target.",
  lookAt:
    'the address the pod saw; mysql with clusterCIDR instead of masqueradeAll; connections per second without and with SNAT.',
  hint: 'a failed load run usually means the lab is down: natscope lab status',
  needs: { masqueradeAll: true, clusterCIDR: null },
  async run(ctx) {
    const client = ctx.lab.hosts.office?.ip;
    const node1 = ctx.lab.hosts.node1?.ip;
    const fixed =
      [...ctx.events]
        .reverse()
        .find((e): e is RequestEvent => e.kind === 'request' && e.target === 'mysql' && e.outcome === 'answered') ??
      (await request(ctx, 'mysql'));
    ctx.out.say(`With masqueradeAll, the mysql pod saw ${fixed.peer}: node1, not the office client ${client}.`);

    // DNAT only and DNAT + SNAT, alternated so a busy moment hits both alike
    const load = async (label: string) => {
      ctx.out.command(`natscope lab load nginx   (${LOAD_SECONDS} s, ${label})`);
      return await ctx.client.call({ cmd: 'load', target: 'nginx', seconds: LOAD_SECONDS, workers: 4 });
    };
    const withSnat = [await load('masqueradeAll on: DNAT + SNAT')];
    await setKubeProxy(ctx, { masqueradeAll: false });
    const withoutSnat = [await load('no masquerade: DNAT only')];
    await setKubeProxy(ctx, { masqueradeAll: true });
    withSnat.push(await load('DNAT + SNAT'));
    await setKubeProxy(ctx, { masqueradeAll: false });
    withoutSnat.push(await load('DNAT only'));
    await setKubeProxy(ctx, { clusterCIDR: '10.244.0.0/16' });
    const viaCidr = await request(ctx, 'mysql');
    await setKubeProxy(ctx, { clusterCIDR: null });
    const rate = (runs: LoadResult[]) =>
      runs.reduce((a, r) => a + r.connections, 0) / runs.reduce((a, r) => a + r.seconds, 0);
    const snatRate = rate(withSnat);
    const plainRate = rate(withoutSnat);
    const ratio = plainRate > 0 ? snatRate / plainRate : 0;
    ctx.out.block([
      `    clusterCIDR 10.244.0.0/16 instead: mysql ${outcomeText(viaCidr)}`,
      `    nginx, DNAT only:   ${plainRate.toFixed(0)} connections/s`,
      `    nginx, DNAT + SNAT: ${snatRate.toFixed(0)} connections/s (${(ratio * 100).toFixed(0)}% of DNAT only)`,
    ]);
    if (ctx.where === 'micro-vm')
      ctx.out.say('Under software emulation these rates are noisy; npm run bench measures them natively.');
    return {
      claims: [
        claim(
          `with masqueradeAll the pod sees node1 (${node1}), not the client`,
          fixed.peer?.startsWith(`${node1}:`) === true,
          fixed.peer ?? 'no answer',
        ),
        claim(
          'a clusterCIDR also fixes mysql for the office, and the pod sees node1 too',
          viaCidr.outcome === 'answered' && viaCidr.peer?.startsWith(`${node1}:`) === true,
          outcomeText(viaCidr),
        ),
        claim(
          'the cost of SNAT was measured in this run',
          snatRate > 0 && plainRate > 0,
          `${snatRate.toFixed(0)} / ${plainRate.toFixed(0)} connections/s`,
        ),
      ],
      evidence: {
        podSaw: fixed.peer,
        clusterCIDR: { outcome: viaCidr.outcome, peer: viaCidr.peer },
        rates: { dnatOnly: plainRate, dnatAndSnat: snatRate, ratio },
      },
    };
  },
};
