// The rules natscope rendered, chain by chain, each with the reason it is
// there: the kube-proxy setting that wrote it (masqueradeAll, clusterCIDR),
// the Service or endpoint it serves, or what kube-proxy always writes.
// iptables mode: the iptables-restore payload and the startup jumps
// (src/kubeproxy/rules.ts), as table ip nat / ip filter of iptables-nft;
// nftables mode: the table the nft -f transaction leaves (src/kubeproxy/nftables).

import type { KubeProxyConfig } from '../events/types.js';
import { FAMILY, operationText, TABLE } from '../kubeproxy/nftables/objects.js';
import { applyOperations } from '../kubeproxy/nftables/state.js';
import { type NftablesProxyOptions, syncOperations } from '../kubeproxy/nftables/sync.js';
import { parseRestore } from '../kubeproxy/normalize.js';
import { JUMP_RULES, type ServicePort } from '../kubeproxy/rules.js';
import type { RenderedChain } from './book.js';

export type Why = (chain: string, rule: string) => string | null;

// What the masquerade settings say, for a rule's reason or a rule's absence.
export function masqueradeSettings(config: KubeProxyConfig): string {
  const all = `masqueradeAll ${config.masqueradeAll}`;
  return config.clusterCIDR ? `clusterCIDR ${config.clusterCIDR}, ${all}` : `clusterCIDR unset, ${all}`;
}

// The chains of an iptables-restore payload ("*nat … COMMIT"), each rule with its reason.
export function restoreChains(payload: string, why: Why): RenderedChain[] {
  return parseRestore(payload).flatMap((t) =>
    t.chains.map((c) => ({
      table: `ip ${t.name}`,
      chain: c.name,
      rules: c.rules.map((rule) => ({ rendered: rule, why: why(c.name, rule) })),
    })),
  );
}

const quoted = (arg: string) => (/\s/.test(arg) ? `"${arg}"` : arg);

// kube-proxy's jumps from the built-in chains: inserted at the top one by
// one when it starts, so each chain holds them in reverse order.
export function startupJumpChains(): RenderedChain[] {
  const chains = new Map<string, RenderedChain>();
  for (const j of JUMP_RULES) {
    const k = `${j.table}\t${j.chain}`;
    let c = chains.get(k);
    if (!c) {
      c = { table: `ip ${j.table}`, chain: j.chain, rules: [] };
      chains.set(k, c);
    }
    c.rules.unshift({
      rendered: ['-A', j.chain, ...j.args.map(quoted), '-j', j.target].join(' '),
      why: `kube-proxy's jump from the built-in ${j.chain} chain into ${j.target} (added when it starts)`,
    });
  }
  return [...chains.values()];
}

const comment = (rule: string) => /--comment (?:"([^"]*)"|(\S+))/.exec(rule)?.[1] ?? /--comment (\S+)/.exec(rule)?.[1];

// Why kube-proxy's iptables mode wrote a rule.
export function iptablesWhy(mark: string): Why {
  return (chain, rule) => {
    const target = / -j (\S+)/.exec(rule)?.[1];
    if (chain === 'KUBE-SERVICES' && target?.startsWith('KUBE-SVC-'))
      return `Service ${comment(rule)?.replace(/ cluster IP$/, '') ?? '?'}: its ClusterIP and port`;
    if (chain === 'KUBE-SERVICES' && target === 'KUBE-NODEPORTS') return "NodePorts: traffic to the node's own addresses";
    if (chain === 'KUBE-SERVICES' && target === 'REJECT') return 'a Service without ready endpoints: refused';
    if (chain.startsWith('KUBE-SVC-') && target === 'KUBE-MARK-MASQ') {
      const cidr = /! -s (\S+)/.exec(rule)?.[1];
      return cidr
        ? `clusterCIDR ${cidr}: a client outside the cluster CIDR is marked for SNAT`
        : 'masqueradeAll true: every connection to the ClusterIP is marked for SNAT';
    }
    if (chain.startsWith('KUBE-SVC-') && target?.startsWith('KUBE-SEP-')) {
      const ep = comment(rule)?.split(' -> ')[1];
      const p = /--probability (\S+)/.exec(rule)?.[1];
      return `picks the endpoint ${ep ?? '?'}${p ? ` (probability ${p})` : ' (the last, or only, one)'}`;
    }
    if (chain.startsWith('KUBE-SEP-') && target === 'KUBE-MARK-MASQ')
      return 'hairpin: the endpoint reaching its own Service is marked for SNAT';
    if (chain.startsWith('KUBE-SEP-') && target === 'DNAT')
      return `the endpoint ${/--to-destination (\S+)/.exec(rule)?.[1] ?? '?'}, from the Service's EndpointSlice`;
    if (chain === 'KUBE-MARK-MASQ') return `sets the masquerade mark ${mark} (iptables.masqueradeBit 14)`;
    if (chain === 'KUBE-POSTROUTING' && target === 'RETURN')
      return `a packet without the mark ${mark} is not SNATed (nothing marked it for masquerade)`;
    if (chain === 'KUBE-POSTROUTING' && target === 'MARK') return 'clears the mark, so the packet is SNATed once';
    if (chain === 'KUBE-POSTROUTING' && target === 'MASQUERADE')
      return `the mark ${mark} is set: SNAT to the address of the interface the packet leaves by`;
    if (chain === 'KUBE-FORWARD' && /INVALID/.test(rule)) return 'kube-proxy drops forwarded packets conntrack calls INVALID';
    if (chain === 'KUBE-FORWARD' && /--mark/.test(rule)) return 'forwards packets marked for SNAT';
    if (chain === 'KUBE-FORWARD') return 'forwards replies of known connections';
    if (chain === 'KUBE-FIREWALL') return 'blocks connections to 127.0.0.0/8 from elsewhere';
    return null;
  };
}

// Why kube-proxy's nftables mode wrote a rule (its rule text, as rendered).
export function nftablesWhy(mark: string): Why {
  return (chain, rule) => {
    if (chain === 'services' && rule.includes('@service-ips'))
      return "ClusterIPs: the map service-ips sends address . protocol . port to the Service's chain";
    if (chain === 'services' && rule.includes('@service-nodeports')) return "NodePorts: traffic to the node's own addresses";
    if (chain.startsWith('service-') && rule.includes('jump mark-for-masquerade')) {
      const cidr = /ip saddr != (\S+)/.exec(rule)?.[1];
      return cidr
        ? `clusterCIDR ${cidr}: a client outside the cluster CIDR is marked for SNAT`
        : 'nftables.masqueradeAll true: every connection to the ClusterIP is marked for SNAT';
    }
    if (chain.startsWith('service-') && rule.includes('numgen random'))
      return `picks one of the Service's ${/mod (\d+)/.exec(rule)?.[1] ?? '?'} endpoint(s) at random`;
    if (chain.startsWith('endpoint-') && rule.includes('jump mark-for-masquerade'))
      return 'hairpin: the endpoint reaching its own Service is marked for SNAT';
    if (chain.startsWith('endpoint-') && rule.includes('dnat to'))
      return `the endpoint ${/dnat to (\S+)/.exec(rule)?.[1] ?? '?'}, from the Service's EndpointSlice`;
    if (chain === 'mark-for-masquerade') return `sets the masquerade mark ${mark} (masqueradeBit 14)`;
    if (chain === 'masquerading' && / return$/.test(rule))
      return `a packet without the mark ${mark} is not SNATed (nothing marked it for masquerade)`;
    if (chain === 'masquerading' && rule.includes(' xor ')) return 'clears the mark, so the packet is SNATed once';
    if (chain === 'masquerading' && rule.startsWith('masquerade'))
      return `the mark ${mark} is set: SNAT to the address of the interface the packet leaves by`;
    if (chain === 'cluster-ips-check' && rule.includes(' reject'))
      return 'a ClusterIP on a port no Service has, or a ping: nftables mode rejects it on the node';
    if (chain === 'cluster-ips-check' && rule.includes(' drop'))
      return 'an address of the Service CIDR that no Service holds: dropped';
    if (chain === 'service-endpoints-check' || chain === 'nodeport-endpoints-check')
      return 'a Service without endpoints: its new connections are refused';
    if (chain === 'firewall-check') return 'LoadBalancer source ranges (none in this lab)';
    if (chain === 'reject-chain') return 'refuses connections to a Service without endpoints';
    const jump = /jump (\S+)$/.exec(rule)?.[1];
    if (jump) return `kube-proxy's base chain ${chain} hands ${rule.startsWith('ct state new') ? 'new connections' : 'packets'} to ${jump}`;
    return null;
  };
}

// The chains of table ip kube-proxy after the transaction kube-proxy sends for these options.
export function nftablesChains(services: ServicePort[], options: NftablesProxyOptions, why: Why): RenderedChain[] {
  const state = applyOperations(syncOperations(services, options));
  return [...state.chains.entries()].map(([name, c]) => ({
    table: `${FAMILY} ${TABLE}`,
    chain: name,
    rules: c.rules.map((r) => ({
      rendered: operationText({ verb: 'add', object: r }).replace(`add rule ${FAMILY} ${TABLE} ${name} `, ''),
      why: why(name, r.rule),
    })),
  }));
}
