import type { DropEvent, PingResult } from '../../../src/events/types.js';
import { claim, proxyMode, type DemoContext, type StepOutcome, type Step } from '../context.js';
import { chainText, parseNftListing } from '../../../src/kubeproxy/nftables/textListing.js';

export const pingLies: Step = {
  n: 6,
  title: 'Why ping lies',
  purpose:
    'The original write-up said the broken Service still answered ping. In iptables mode a ClusterIP never answers ICMP: no rule matches it and no interface owns the address. Old IPVS mode bound every ClusterIP to kube-ipvs0, so the node itself answered; since Kubernetes 1.27 kube-proxy\'s KUBE-IPVS-FILTER rejects those pings too. nftables mode rejects them on the node (cluster-ips-check). Either way any answer came from a node, never from the pod: "ping works" proved nothing about the TCP path.',
  lookAt: 'the ClusterIP gets no echo reply; the pod IP does.',
  hint: 'if the ClusterIP answers ping, this is not iptables mode',
  nftables: {
    purpose:
      'The original write-up said the broken Service still answered ping. In nftables mode a ClusterIP ping does get an answer, but not an echo reply and not from the pod: node1\'s kube-proxy table rejects it (chain cluster-ips-check: ip daddr @cluster-ips reject, for whatever reaches a ClusterIP that no Service port took, ICMP included), and node1 sends back ICMP port unreachable. In iptables mode the same ping gets no answer at all; old IPVS mode answered from the node itself. Either way any answer came from a node, never from the pod: "ping works" proved nothing about the TCP path.',
    lookAt:
      "the ClusterIP's ping comes back Destination Port Unreachable from node1's address; node1's kernel drops the echo request in kube-proxy's table (the drop probe says where); the pod IP answers.",
    hint: 'if the ClusterIP gets no answer at all, kube-proxy is not in nftables mode: natscope lab status',
  },
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
    if (proxyMode(ctx) === 'nftables') return await rejectedByNode1(ctx, vip, pod);
    return {
      claims: [
        claim('the mysql ClusterIP does not answer ping (iptables mode)', !vip.answered, vip.detail),
        claim('the mysql pod IP answers ping', pod.answered, pod.detail),
      ],
      evidence: { clusterIP: vip, pod },
    };
  },
};

// nftables mode: node1 rejects the echo request (cluster-ips-check) and says so in ICMP.
async function rejectedByNode1(ctx: DemoContext, vip: PingResult, pod: PingResult): Promise<StepOutcome> {
  const node1 = ctx.lab.hosts.node1?.ip ?? '';
  await ctx.settle(500); // the drop probe's next flush
  const echoDrop = ctx.events.find(
    (e): e is DropEvent =>
      e.kind === 'drop' && e.host === 'node1' && e.packet.proto === 'icmp' && e.packet.dst === vip.ip,
  );
  ctx.out.command('natscope lab rules node1   (chain cluster-ips-check and set cluster-ips)');
  const listing = parseNftListing(await ctx.client.call({ cmd: 'rules', node: 'node1' }));
  const check = listing.chains.get('cluster-ips-check') ?? [];
  const clusterIps = listing.elements.get('cluster-ips') ?? [];
  ctx.out.block([...chainText(listing, 'cluster-ips-check'), `    set cluster-ips: ${clusterIps.join(', ')}`]);
  if (echoDrop)
    ctx.out.say(
      `node1's kernel dropped the echo request: ${echoDrop.reason}, freed in ${echoDrop.location ?? 'an unnamed function'}; the reject rule sent the ICMP error before the drop.`,
    );
  const rejectRule = check.find((r) => /^ip daddr @cluster-ips reject\b/.test(r));
  const rejectedFrom = new RegExp(`^From ${node1.replaceAll('.', '\\.')} .*Destination Port Unreachable`);
  return {
    claims: [
      claim(
        `the mysql ClusterIP gets no echo reply but an ICMP port unreachable from node1 (${node1})`,
        !vip.answered && rejectedFrom.test(vip.detail),
        vip.detail || 'nothing',
      ),
      claim(
        "node1's chain cluster-ips-check rejects packets to the ClusterIPs in set cluster-ips, mysql's among them",
        Boolean(rejectRule) && clusterIps.includes(vip.ip),
        `cluster-ips-check: ${check.join(' | ') || 'no such chain'}; cluster-ips: ${clusterIps.join(', ') || 'empty'}`,
      ),
      claim(
        "node1's kernel drops the echo request there (NETFILTER_DROP)",
        echoDrop?.reason === 'NETFILTER_DROP',
        echoDrop ? `${echoDrop.reason} at ${echoDrop.location}` : 'no drop of the echo request on node1',
      ),
      claim('the mysql pod IP answers ping', pod.answered, pod.detail),
    ],
    evidence: {
      clusterIP: vip,
      pod,
      rejectRule: rejectRule ?? null,
      echoDrop: echoDrop ? { host: echoDrop.host, reason: echoDrop.reason, location: echoDrop.location } : null,
    },
  };
}
