import { cidrContains, parseCidr } from '../../../src/events/tuple.js';
import { claim, latestConfig, nodeByIp, proxyMode, routeVia, type Step } from '../context.js';

export const setup: Step = {
  n: 1,
  title: 'The setup',
  purpose:
    "An office reaches a cluster's ClusterIP Services through a VPN. The VPN endpoint can route the whole Service CIDR to ONE node only, because a cloud route table points a prefix at one instance. kube-proxy runs in iptables mode with masqueradeAll off and no clusterCIDR, so it cannot tell an off-cluster client from a pod. (kubeadm copies the pod subnet into clusterCIDR: most clusters masquerade off-cluster clients and never show this. Check yours: kubectl -n kube-system get cm kube-proxy -o yaml | grep -E 'clusterCIDR|detectLocalMode|masqueradeAll'.)",
  lookAt:
    "the vpn's route for the Service CIDR (one next hop), and kube-proxy's options: iptables.masqueradeAll=false, no clusterCIDR.",
  hint: "the lab is not in the incident's state: natscope lab set masquerade-all off && natscope lab set cluster-cidr none",
  nftables: {
    purpose:
      "An office reaches a cluster's ClusterIP Services through a VPN. The VPN endpoint can route the whole Service CIDR to ONE node only, because a cloud route table points a prefix at one instance. kube-proxy runs in nftables mode (its own table, ip kube-proxy, instead of iptables chains) with nftables.masqueradeAll off and no clusterCIDR, so it cannot tell an off-cluster client from a pod. (kubeadm copies the pod subnet into clusterCIDR: most clusters masquerade off-cluster clients and never show this. Check yours: kubectl -n kube-system get cm kube-proxy -o yaml | grep -E 'mode|clusterCIDR|detectLocalMode|masqueradeAll'.)",
    lookAt:
      "the vpn's route for the Service CIDR (one next hop), and kube-proxy's options: mode nftables, nftables.masqueradeAll=false, no clusterCIDR.",
  },
  needs: { masqueradeAll: false, clusterCIDR: null },
  async run(ctx) {
    const lab = ctx.lab;
    const mode = proxyMode(ctx);
    const pod = (name: string) => lab.pods.find((p) => p.name === name);
    const svc = (name: string) => lab.services.find((s) => s.name === name);
    ctx.out.block([
      `  office ${lab.hosts.office?.ip} ── VPN tunnel ── vpn ${lab.hosts.vpn?.ip}`,
      `                                        │ (cloud VPC)`,
      `                     ┌──────────────────┴──────────────────┐`,
      `               node1 ${lab.hosts.node1?.ip}                 node2 ${lab.hosts.node2?.ip}`,
      `               nginx pod ${pod('nginx')?.ip}            mysql pod ${pod('mysql')?.ip}`,
      `  Services: nginx ${svc('nginx')?.clusterIP}:${svc('nginx')?.port}   mysql ${svc('mysql')?.clusterIP}:${svc('mysql')?.port}   (Service CIDR ${lab.serviceCIDR})`,
    ]);
    ctx.out.command('natscope lab routes vpn');
    const routes = await ctx.client.call({ cmd: 'routes', host: 'vpn' });
    ctx.out.block(
      routes
        .trim()
        .split('\n')
        .map((l) => `    ${l}`),
    );
    const serviceHop = nodeByIp(lab, routeVia(routes, lab.serviceCIDR));
    const config = latestConfig(ctx);
    ctx.out.say(
      `kube-proxy: mode ${mode}, masqueradeAll=${config?.masqueradeAll}, clusterCIDR=${config?.clusterCIDR ?? 'none'}`,
    );
    // the vpn's route for each pod's address must point at the pod's own node
    const podRoutes = lab.pods.map((p) => {
      const line = routes.split('\n').find((l) => {
        const cidr = parseCidr(l.split(' ')[0] ?? '');
        return cidr !== null && cidr.bits > 0 && cidrContains(cidr, p.ip);
      });
      return { pod: p.name, node: p.node, via: line ? nodeByIp(lab, / via (\S+)/.exec(line)?.[1] ?? null) : null };
    });
    // what the lab's config events say its nodes run (nftables mode only: iptables mode's claims are as they were)
    const modeSeen = [...ctx.events].reverse().find((e) => e.kind === 'config');
    const modeClaims =
      mode === 'nftables'
        ? [
            claim(
              "kube-proxy runs in nftables mode on the lab's nodes",
              modeSeen?.kind === 'config' && modeSeen.kubeProxy.mode === 'nftables',
              modeSeen?.kind === 'config' ? `mode ${modeSeen.kubeProxy.mode}` : 'no kube-proxy config event',
            ),
          ]
        : [];
    return {
      claims: [
        ...modeClaims,
        claim(
          `the vpn routes the whole Service CIDR ${lab.serviceCIDR} to one node, node1`,
          serviceHop === 'node1',
          `next hop ${serviceHop ?? 'none'}`,
        ),
        claim(
          "each pod's subnet is routed to the pod's own node",
          podRoutes.every((r) => r.via === r.node),
          JSON.stringify(podRoutes),
        ),
        claim(
          'kube-proxy has masqueradeAll=false and no clusterCIDR',
          config?.masqueradeAll === false && config.clusterCIDR === null,
          JSON.stringify(config),
        ),
      ],
      evidence: { serviceRoute: serviceHop, podRoutes, kubeProxy: config, ...(mode === 'nftables' ? { mode } : {}) },
    };
  },
};
