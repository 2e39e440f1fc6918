import { claim, latestConfig, setKubeProxy, type Step } from '../context.js';

export const fix: Step = {
  n: 7,
  title: 'The fix: iptables.masqueradeAll',
  purpose:
    "kube-proxy's iptables.masqueradeAll: true (nftables.masqueradeAll in nftables mode) marks every packet to a ClusterIP for masquerade. node1 then SNATs the request to the address it sends from toward the pod, so the pod answers node1, and node1 turns the reply back into ClusterIP → client.",
  lookAt: 'the one rule that appears first in each KUBE-SVC chain: -j KUBE-MARK-MASQ, with no source match.',
  hint: 'natscope lab rules node1 shows the chain; the rule must be first in KUBE-SVC-… of mysql',
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
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
      ],
      evidence: { added, removed },
    };
  },
};
