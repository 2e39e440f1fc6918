// What kube-proxy's nftables mode (pkg/proxy/nftables, the layout of its
// v1.35 release) sends to `nft -f` on its first full sync on a
// node, for ClusterIP Services: one transaction that creates table
// `ip kube-proxy`, its base chains and the chains they jump to, the sets and
// verdict maps, and a service chain and endpoint chains per Service port.
// Services are taken in a fixed order (kube-proxy iterates a Go map, so its
// own order varies); state.ts gives what the table then holds, normalize.ts
// the form kube-proxy's tests compare. Releases after v1.35 set the mark
// inline instead of jumping to mark-for-masquerade (kubernetes PR #135800).

import { servicePortName } from '../chains.js';
import { type KubeProxyOptions, masqueradeMark, type ServicePort } from '../rules.js';
import { endpointChainName, serviceChainName } from './names.js';
import { add, type BaseChainSpec, type ChainObject, del, flush, type Operation, type SetObject } from './objects.js';
import { validateNftablesInput } from './validate.js';

export interface NftablesProxyOptions {
  masqueradeAll: boolean;
  // detectLocalMode ClusterCIDR: traffic from outside it to a ClusterIP is
  // masqueraded; null leaves kube-proxy without a local-traffic detector,
  // and such traffic keeps its source address
  clusterCIDR: string | null;
  // the addresses in set nodeport-ips: with nodePortAddresses unset,
  // nftables mode takes the node's primary IP ("primary")
  nodePortIPs: string[];
  // the Service CIDRs (ServiceCIDR objects): traffic to an address in them
  // that no Service holds is dropped
  serviceCIDRs: string[];
  // iptables.masqueradeBit (default 14)
  masqueradeBit?: number;
  // kube-proxy's unit tests hard-code "0x4000"; the real proxier formats
  // the mark with Go's %#08x ("0x00004000")
  markStyle?: 'real' | 'test';
}

// nft's standard priorities for the ip family
const PRIORITY = { dstnat: -100, filter: 0, srcnat: 100 } as const;

// Filtering on the Service's own address and port has to happen before DNAT
// rewrites them (pre-dnat chains); the checks of new connections run at
// filter priority, after DNAT, where an unmatched ClusterIP is still itself.
export const BASE_CHAINS: { name: string; base: BaseChainSpec }[] = [
  { name: 'filter-prerouting-pre-dnat', base: { type: 'filter', hook: 'prerouting', priority: PRIORITY.dstnat - 10 } },
  { name: 'filter-output-pre-dnat', base: { type: 'filter', hook: 'output', priority: PRIORITY.dstnat - 10 } },
  { name: 'filter-forward', base: { type: 'filter', hook: 'forward', priority: PRIORITY.filter } },
  { name: 'filter-input', base: { type: 'filter', hook: 'input', priority: PRIORITY.filter } },
  { name: 'filter-output', base: { type: 'filter', hook: 'output', priority: PRIORITY.filter } },
  { name: 'nat-prerouting', base: { type: 'nat', hook: 'prerouting', priority: PRIORITY.dstnat } },
  { name: 'nat-output', base: { type: 'nat', hook: 'output', priority: PRIORITY.dstnat } },
  { name: 'nat-postrouting', base: { type: 'nat', hook: 'postrouting', priority: PRIORITY.srcnat } },
];

// The jumps from the base chains, in the order kube-proxy adds them (which
// is their order inside each base chain).
export const JUMPS: { from: string; to: string; match: string }[] = [
  { from: 'filter-input', to: 'nodeport-endpoints-check', match: 'ct state new' },
  { from: 'filter-input', to: 'service-endpoints-check', match: 'ct state new' },
  { from: 'filter-forward', to: 'service-endpoints-check', match: 'ct state new' },
  { from: 'filter-output', to: 'service-endpoints-check', match: 'ct state new' },
  { from: 'filter-prerouting-pre-dnat', to: 'firewall-check', match: 'ct state new' },
  { from: 'filter-output-pre-dnat', to: 'firewall-check', match: 'ct state new' },
  { from: 'nat-output', to: 'services', match: '' },
  { from: 'nat-prerouting', to: 'services', match: '' },
  { from: 'nat-postrouting', to: 'masquerading', match: '' },
  { from: 'filter-forward', to: 'cluster-ips-check', match: 'ct state new' },
  { from: 'filter-output', to: 'cluster-ips-check', match: 'ct state new' },
];

const chain = (name: string, comment?: string): ChainObject =>
  comment === undefined ? { kind: 'chain', name } : { kind: 'chain', name, comment };
const set = (name: string, type: string, comment: string): SetObject => ({ kind: 'set', name, type, comment });
const map = (name: string, type: string, comment: string): SetObject => ({ kind: 'map', name, type, comment });
const rule = (chainName: string, text: string, comment?: string): Operation =>
  add(
    comment === undefined
      ? { kind: 'rule', chain: chainName, rule: text }
      : { kind: 'rule', chain: chainName, rule: text, comment },
  );

const SERVICE_KEY = 'ipv4_addr . inet_proto . inet_service : verdict';
const NODEPORT_KEY = 'inet_proto . inet_service : verdict';

export const SETS = {
  clusterIPs: set('cluster-ips', 'ipv4_addr', 'Active ClusterIPs'),
  nodePortIPs: set('nodeport-ips', 'ipv4_addr', 'IPs that accept NodePort traffic'),
  noEndpointServices: map(
    'no-endpoint-services',
    SERVICE_KEY,
    'vmap to drop or reject packets to services with no endpoints',
  ),
  noEndpointNodePorts: map(
    'no-endpoint-nodeports',
    NODEPORT_KEY,
    'vmap to drop or reject packets to service nodeports with no endpoints',
  ),
  firewallIPs: map('firewall-ips', SERVICE_KEY, 'destinations that are subject to LoadBalancerSourceRanges'),
  serviceIPs: map('service-ips', SERVICE_KEY, 'ClusterIP, ExternalIP and LoadBalancer IP traffic'),
  serviceNodePorts: map('service-nodeports', NODEPORT_KEY, 'NodePort traffic'),
} as const;

export const MARK_MASQ_CHAIN = 'mark-for-masquerade';
export const REJECT_CHAIN = 'reject-chain';

// A chain is created and emptied once per transaction, so rules added to
// it earlier in the same transaction survive.
class ChainLedger {
  private readonly made = new Set<string>();
  constructor(private readonly ops: Operation[]) {}
  ensure(name: string): void {
    if (this.made.has(name)) return;
    this.made.add(name);
    this.ops.push(add(chain(name)), flush(chain(name)));
  }
}

function setupOperations(options: NftablesProxyOptions, mark: string, ops: Operation[], chains: ChainLedger): void {
  ops.push(add({ kind: 'table', comment: 'rules for kube-proxy' }));
  // A new proxier deletes its base chains once, so a changed priority from
  // an older kube-proxy cannot make the transaction fail.
  for (const bc of BASE_CHAINS) ops.push(add(chain(bc.name)), del(chain(bc.name)));
  for (const bc of BASE_CHAINS) {
    const c: ChainObject = { kind: 'chain', name: bc.name, base: bc.base };
    ops.push(add(c), flush(c));
  }
  for (const j of JUMPS) {
    chains.ensure(j.to);
    ops.push(rule(j.from, [j.match, 'jump', j.to].filter(Boolean).join(' ')));
  }
  for (const name of ['services', 'cluster-ips-check', 'masquerading', MARK_MASQ_CHAIN]) chains.ensure(name);

  // Marking is all a service chain does for masquerading; the packet is
  // rewritten in nat-postrouting, once routing has picked its way out.
  ops.push(
    rule(MARK_MASQ_CHAIN, `mark set mark or ${mark}`),
    rule('masquerading', `mark and ${mark} == 0 return`),
    rule('masquerading', `mark set mark xor ${mark}`),
    rule('masquerading', 'masquerade fully-random'),
  );

  ops.push(add(SETS.clusterIPs));
  // A ClusterIP answers only on its Service's ports: anything else is
  // refused with an ICMP error, and an address no Service holds is dropped.
  ops.push(rule('cluster-ips-check', 'ip daddr @cluster-ips reject', 'Reject traffic to invalid ports of ClusterIPs'));
  if (options.serviceCIDRs.length > 0)
    ops.push(
      rule(
        'cluster-ips-check',
        `ip daddr { ${options.serviceCIDRs.join(',')} } drop`,
        'Drop traffic to unallocated ClusterIPs',
      ),
    );

  ops.push(add(SETS.nodePortIPs), flush(SETS.nodePortIPs));
  for (const ip of options.nodePortIPs) ops.push(add({ kind: 'element', container: 'nodeport-ips', key: [ip] }));

  ops.push(add(SETS.noEndpointServices), add(SETS.noEndpointNodePorts));
  const reject = chain(REJECT_CHAIN, 'helper for @no-endpoint-services / @no-endpoint-nodeports');
  ops.push(add(reject), flush(reject), rule(REJECT_CHAIN, 'reject'));
  ops.push(
    rule('service-endpoints-check', 'ip daddr . meta l4proto . th dport vmap @no-endpoint-services'),
    rule('nodeport-endpoints-check', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports'),
  );

  ops.push(add(SETS.firewallIPs));
  chains.ensure('firewall-check');
  ops.push(rule('firewall-check', 'ip daddr . meta l4proto . th dport vmap @firewall-ips'));

  ops.push(add(SETS.serviceIPs), add(SETS.serviceNodePorts));
  ops.push(
    rule('services', 'ip daddr . meta l4proto . th dport vmap @service-ips'),
    rule('services', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports'),
  );

  for (const c of Object.values(SETS)) {
    if (c.name !== 'nodeport-ips') ops.push(flush(c));
  }
}

// The endpoints kube-proxy uses: ready ones, each "ip:port" once, sorted as
// strings as its EndpointSliceCache sorts them ("10.0.0.10:80" < "10.0.0.2:80").
export function usableEndpoints(svc: ServicePort): string[] {
  const seen = new Set<string>();
  for (const ep of svc.endpoints) if (ep.ready !== false) seen.add(`${ep.ip}:${ep.port}`);
  return [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// The rule the incident turns on: traffic to the ClusterIP is marked for
// masquerade only with masqueradeAll, or when it comes from outside a known
// cluster CIDR. Without either, off-cluster clients keep their own source
// address on the way to the endpoint. (The service chain is reached through
// service-ips with protocol and port already matched, so the ClusterIP is
// the whole test. kube-proxy's expected rulesets show the cluster CIDR form;
// its masqueradeAll form is checked there only by tracing packets.)
export function masqueradeRule(svc: ServicePort, options: NftablesProxyOptions): string | null {
  if (options.masqueradeAll) return `ip daddr ${svc.clusterIP} jump ${MARK_MASQ_CHAIN}`;
  if (options.clusterCIDR)
    return `ip daddr ${svc.clusterIP} ip saddr != ${options.clusterCIDR} jump ${MARK_MASQ_CHAIN}`;
  return null;
}

function serviceOperations(svc: ServicePort, options: NftablesProxyOptions, ops: Operation[], chains: ChainLedger) {
  const proto = svc.protocol.toLowerCase();
  const endpoints = usableEndpoints(svc);
  const key = [svc.clusterIP, proto, String(svc.port)];
  const svcChain = serviceChainName(svc);
  for (const ep of endpoints) chains.ensure(endpointChainName(svc, ep));
  if (endpoints.length > 0) chains.ensure(svcChain);

  ops.push(add({ kind: 'element', container: 'cluster-ips', key: [svc.clusterIP] }));
  if (endpoints.length === 0) {
    // no endpoints: new connections are refused in the filter chains
    // (service-endpoints-check), nothing is NATed
    ops.push(
      add({
        kind: 'element',
        container: 'no-endpoint-services',
        key,
        value: [`goto ${REJECT_CHAIN}`],
        comment: servicePortName(svc),
      }),
    );
    return;
  }
  ops.push(add({ kind: 'element', container: 'service-ips', key, value: [`goto ${svcChain}`] }));

  const masq = masqueradeRule(svc, options);
  if (masq) ops.push(rule(svcChain, masq));
  // one random pick among the endpoints, each equally likely
  const picks = endpoints.map((ep, i) => `${i} : goto ${endpointChainName(svc, ep)}`).join(' , ');
  ops.push(rule(svcChain, `numgen random mod ${endpoints.length} vmap { ${picks} }`));

  for (const ep of endpoints) {
    const epChain = endpointChainName(svc, ep);
    const ip = ep.slice(0, ep.lastIndexOf(':'));
    // hairpin: a pod reaching its own Service must be masqueraded, or it
    // would answer itself directly
    ops.push(rule(epChain, `ip saddr ${ip} jump ${MARK_MASQ_CHAIN}`));
    ops.push(rule(epChain, `meta l4proto ${proto} dnat to ${ep}`));
  }
}

function byPortName(a: ServicePort, b: ServicePort): number {
  const na = `${servicePortName(a)}/${a.protocol}`;
  const nb = `${servicePortName(b)}/${b.protocol}`;
  return na < nb ? -1 : na > nb ? 1 : a.port - b.port;
}

// The operations of the first full sync, in kube-proxy's order.
export function syncOperations(services: ServicePort[], options: NftablesProxyOptions): Operation[] {
  validateNftablesInput(services, options);
  const mark = masqueradeMark(toMarkOptions(options));
  const ops: Operation[] = [];
  const chains = new ChainLedger(ops);
  setupOperations(options, mark, ops, chains);
  for (const svc of [...services].sort(byPortName)) serviceOperations(svc, options, ops, chains);
  return ops;
}

function toMarkOptions(options: NftablesProxyOptions): KubeProxyOptions {
  return {
    masqueradeAll: options.masqueradeAll,
    clusterCIDR: options.clusterCIDR,
    ...(options.masqueradeBit === undefined ? {} : { masqueradeBit: options.masqueradeBit }),
    ...(options.markStyle === undefined ? {} : { markStyle: options.markStyle }),
  };
}
