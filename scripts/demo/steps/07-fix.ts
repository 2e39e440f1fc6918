import type { RuleStep } from '../../../src/events/types.js';
import { withoutCounts } from '../../../src/ruletrace/format.js';
import { formatJoinedPath, joinRulePath } from '../../../src/ruletrace/join.js';
import { chainNames } from '../../../src/ruletrace/rulePath.js';
import {
  type Claim,
  claim,
  flowOf,
  latestConfig,
  outcomeText,
  proxyMode,
  setKubeProxy,
  type DemoContext,
  type Step,
  type StepOutcome,
  tracedRequest,
} from '../context.js';
import {
  chainText,
  endpointChainsOf,
  listingChanges,
  parseNftListing,
  serviceChainOf,
} from '../../../src/kubeproxy/nftables/textListing.js';

export const fix: Step = {
  n: 7,
  title: 'The fix: iptables.masqueradeAll',
  purpose:
    "kube-proxy's iptables.masqueradeAll: true (nftables.masqueradeAll in nftables mode) marks every packet to a ClusterIP for masquerade. node1 then SNATs the request to the address it sends from toward the pod, so the pod answers node1, and node1 turns the reply back into ClusterIP → client.",
  lookAt:
    "the one rule that appears first in each KUBE-SVC chain: -j KUBE-MARK-MASQ, with no source match; then, in a traced request to mysql, that rule matching and KUBE-POSTROUTING's MASQUERADE following, the same SNAT the kernel's nf_nat_setup_info made.",
  hint: 'natscope lab rules node1 shows the chain; the rule must be first in KUBE-SVC-… of mysql',
  nftables: {
    title: 'The fix: nftables.masqueradeAll',
    purpose:
      "In nftables mode kube-proxy writes its own table, ip kube-proxy: chain services looks the packet's address, protocol and port up in the verdict map service-ips and goes to the Service's service-… chain, which picks an endpoint-… chain, which DNATs to the pod. A packet jumps to mark-for-masquerade to be marked, and chain masquerading (nat postrouting) masquerades marked packets. nftables.masqueradeAll: true (iptables.masqueradeAll in iptables mode) makes each service-… chain mark every packet to its ClusterIP. node1 then SNATs the request to the address it sends from toward the pod, so the pod answers node1, and node1 turns the reply back into ClusterIP → client.",
    lookAt:
      "the one rule that appears first in each service-… chain: ip daddr <ClusterIP> jump mark-for-masquerade, with no ip saddr match; then, in a traced request to mysql, that rule matching and chain masquerading's masquerade following, the same SNAT the kernel's nf_nat_setup_info made.",
    hint: "natscope lab rules node1 shows the table; the rule must be first in mysql's service-… chain",
  },
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    if (proxyMode(ctx) === 'nftables') return await fixInNftablesMode(ctx);
    ctx.out.command('natscope lab rules node1');
    const before = await ctx.client.call({ cmd: 'rules', node: 'node1' });
    ctx.out.say(
      'On a real cluster: kubectl -n kube-system edit configmap kube-proxy and, in config.conf, set masqueradeAll: true under iptables: (iptables.masqueradeAll; a masqueradeAll: at the top level is not a kube-proxy option and is silently ignored), then kubectl -n kube-system delete pod -l k8s-app=kube-proxy: the DaemonSet recreates the pods and each re-syncs its rules. Here natscope re-syncs both nodes the same way:',
    );
    await setKubeProxy(ctx, { masqueradeAll: true });
    const after = await ctx.client.call({ cmd: 'rules', node: 'node1' });
    const lines = (t: string) => new Set(t.split('\n').filter((l) => l.startsWith('-A ')));
    const was = lines(before);
    const added = [...lines(after)].filter((l) => !was.has(l));
    const removed = [...was].filter((l) => !lines(after).has(l));
    ctx.out.block([...removed.map((l) => `  - ${l}`), ...added.map((l) => `  + ${l}`)]);
    const mysql = ctx.lab.services.find((s) => s.name === 'mysql')!;
    const mysqlMasq = added.find(
      (l) =>
        /^-A KUBE-SVC-\S+ /.test(l) &&
        l.includes(`-d ${mysql.clusterIP}/32`) &&
        l.endsWith('-j KUBE-MARK-MASQ') &&
        !l.includes('! -s'),
    );
    const chain = mysqlMasq?.split(' ')[1];
    const firstInChain = chain ? after.split('\n').find((l) => l.startsWith(`-A ${chain} `)) : undefined;
    const config = latestConfig(ctx);
    const traced = await tracedAfterFix(ctx, (s) => s.chain === chain);
    return {
      claims: [
        claim('kube-proxy now has iptables.masqueradeAll=true', config?.masqueradeAll === true, JSON.stringify(config)),
        claim(
          "a -j KUBE-MARK-MASQ rule for mysql's ClusterIP appears, with no source match",
          Boolean(mysqlMasq),
          `added: ${added.join(' | ') || 'nothing'}`,
        ),
        claim(
          'it is the first rule of the mysql KUBE-SVC chain',
          Boolean(mysqlMasq) && firstInChain === mysqlMasq,
          firstInChain ?? 'no chain',
        ),
        claim(
          'nothing else changed but these masquerade rules',
          removed.length === 0 && added.every((l) => l.endsWith('-j KUBE-MARK-MASQ')),
          `removed ${removed.length}, added ${added.length}`,
        ),
        ...traced.claims,
      ],
      evidence: { added, removed, traced: traced.evidence },
    };
  },
};

// nftables mode: the same fix, read from kube-proxy's table chain by chain.
async function fixInNftablesMode(ctx: DemoContext): Promise<StepOutcome> {
  ctx.out.command('natscope lab rules node1');
  const before = parseNftListing(await ctx.client.call({ cmd: 'rules', node: 'node1' }));
  const mysql = ctx.lab.services.find((s) => s.name === 'mysql')!;
  const serviceChain = serviceChainOf(before, mysql.namespace, mysql.name);
  const endpointChains = endpointChainsOf(before, mysql.namespace, mysql.name);
  const route = (before.elements.get('service-ips') ?? []).find((e) => e.startsWith(`${mysql.clusterIP} . `));
  ctx.out.say("The way of a packet to mysql's ClusterIP through node1's table (excerpts):");
  ctx.out.block([
    ...chainText(before, 'services'),
    `    map service-ips: ${route ?? `no element for ${mysql.clusterIP}`}`,
    ...(serviceChain ? chainText(before, serviceChain) : []),
    ...endpointChains.flatMap((c) => chainText(before, c)),
    ...chainText(before, 'mark-for-masquerade'),
    ...chainText(before, 'masquerading'),
  ]);
  ctx.out.say(
    'On a real cluster: kubectl -n kube-system edit configmap kube-proxy and, in config.conf, set masqueradeAll: true under nftables: (nftables.masqueradeAll; in nftables mode kube-proxy does not read iptables.masqueradeAll, and a masqueradeAll: at the top level is not a kube-proxy option and is silently ignored), then kubectl -n kube-system delete pod -l k8s-app=kube-proxy: the DaemonSet recreates the pods and each re-syncs its table. Here natscope re-syncs both nodes the same way:',
  );
  await setKubeProxy(ctx, { masqueradeAll: true });
  ctx.out.command('natscope lab rules node1 | grep mark-for-masquerade');
  const after = parseNftListing(await ctx.client.call({ cmd: 'rules', node: 'node1' }));
  const { added, removed } = listingChanges(before, after);
  const isNew = new Set(added.map((a) => `${a.chain}\n${a.rule}`));
  ctx.out.block(
    [...after.chains.entries()].flatMap(([chain, rules]) =>
      rules
        .filter((r) => r.includes('mark-for-masquerade'))
        .map((r) => `  ${isNew.has(`${chain}\n${r}`) ? '+' : ' '} ${r}   (chain ${chain})`),
    ),
  );
  if (removed.length) ctx.out.block(removed.map((r) => `  - ${r.rule}   (chain ${r.chain})`));
  const mark = `ip daddr ${mysql.clusterIP} jump mark-for-masquerade`;
  const mysqlMasq = added.find((a) => a.chain === serviceChain && a.rule === mark);
  const firstInChain = serviceChain ? after.chains.get(serviceChain)?.[0] : undefined;
  const config = latestConfig(ctx);
  const traced = await tracedAfterFix(ctx, (s) => s.chain === serviceChain && s.rule === mark);
  return {
    claims: [
      claim(
        'kube-proxy now has nftables.masqueradeAll=true',
        config?.masqueradeAll === true && proxyMode(ctx) === 'nftables',
        JSON.stringify(config),
      ),
      claim(
        `"${mark}" appears in mysql's service chain, with no ip saddr match`,
        Boolean(mysqlMasq),
        `added: ${added.map((a) => `${a.chain}: ${a.rule}`).join(' | ') || 'nothing'}`,
      ),
      claim(
        "it is the first rule of mysql's service chain",
        Boolean(mysqlMasq) && firstInChain === mark,
        firstInChain ?? `no chain ${serviceChain ?? 'service-…-default/mysql/…'}`,
      ),
      claim(
        'nothing else changed but these jumps to mark-for-masquerade',
        removed.length === 0 && added.length > 0 && added.every((a) => a.rule.endsWith(' jump mark-for-masquerade')),
        `removed ${removed.length}, added ${added.length}`,
      ),
      ...traced.claims,
    ],
    evidence: { serviceChain, added, removed, traced: traced.evidence },
  };
}

// One traced request to mysql after the change: the rule that marked it (the
// one just added, told by `isNewMark`), the masquerade that followed, joined
// with the SNAT binding the kernel made.
async function tracedAfterFix(
  ctx: DemoContext,
  isNewMark: (step: RuleStep) => boolean,
): Promise<{ claims: Claim[]; evidence: unknown }> {
  const names = chainNames(proxyMode(ctx));
  const traced = await tracedRequest(ctx, 'mysql');
  await ctx.settle(1000);
  const flow = flowOf(ctx, traced.request);
  ctx.out.say(`The request: ${outcomeText(traced.request)}. Which rule did it, next to what the kernel did:`);
  const joined = flow ? joinRulePath(traced.rulePath, flow) : null;
  if (joined) ctx.out.block(formatJoinedPath(joined).map((l) => `    ${l}`));
  const snat = joined?.lines.find((l) => l.host === 'node1' && l.what === 'SNAT');
  const mark = snat?.rules?.steps.find((s) => s.verdict === `jump ${names.mark}` || s.verdict === `goto ${names.mark}`);
  const masquerade = snat?.rules?.steps.find((s) => s.chain === names.post);
  const node1 = ctx.lab.hosts.node1?.ip;
  const seen = snat
    ? `${snat.rules?.decision ?? 'no rule'} (${snat.rules?.because ?? ''}); ${snat.kernel?.text ?? 'no SNAT in the kernel'}`
    : 'no SNAT line for node1 in the joined path';
  return {
    claims: [
      claim(
        `a traced request to mysql meets the new ${names.mark} rule: ${mark ? `${mark.chain}: ${withoutCounts(mark.rule)}` : 'none'}`,
        Boolean(mark && isNewMark(mark)),
        seen,
      ),
      claim(
        `the masquerade in ${names.post} follows, the same SNAT the kernel made, to node1's address ${node1}`,
        Boolean(snat?.agree && snat.rules?.does && masquerade && snat.kernel?.nat?.to.ip === node1),
        seen,
      ),
    ],
    evidence: {
      request: { outcome: traced.request.outcome, sport: traced.request.sport },
      mark: mark ? { chain: mark.chain, rule: withoutCounts(mark.rule) } : null,
      snat: snat ? { agree: snat.agree, verdict: snat.verdict, to: snat.kernel?.nat?.to ?? null } : null,
    },
  };
}
