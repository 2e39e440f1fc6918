import { claim, type Step } from '../context.js';

export const pingLies: Step = {
  n: 6,
  title: 'Why ping lies',
  purpose:
    'The original write-up said the broken Service still answered ping. In iptables mode a ClusterIP never answers ICMP: no rule matches it and no interface owns the address. Old IPVS mode bound every ClusterIP to kube-ipvs0, so the node itself answered; since Kubernetes 1.27 kube-proxy\'s KUBE-IPVS-FILTER rejects those pings too. nftables mode rejects them on the node (cluster-ips-check). Either way any answer came from a node, never from the pod: "ping works" proved nothing about the TCP path.',
  lookAt: 'the ClusterIP gets no echo reply; the pod IP does.',
  hint: 'if the ClusterIP answers ping, this is not iptables mode',
  needs: null,
  async run(ctx) {
    ctx.out.command('natscope lab ping mysql');
    const vip = await ctx.client.call({ cmd: 'ping', target: 'mysql' });
    ctx.out.command('natscope lab ping pod/mysql');
    const pod = await ctx.client.call({ cmd: 'ping', target: 'pod/mysql' });
    ctx.out.block([
      `    ClusterIP ${vip.ip}: ${vip.answered ? 'answered' : 'no answer'} ${vip.detail}`,
      `    pod       ${pod.ip}: ${pod.answered ? 'answered' : 'no answer'} ${pod.detail}`,
    ]);
    return {
      claims: [
        claim('the mysql ClusterIP does not answer ping (iptables mode)', !vip.answered, vip.detail),
        claim('the mysql pod IP answers ping', pod.answered, pod.detail),
      ],
      evidence: { clusterIP: vip, pod },
    };
  },
};
