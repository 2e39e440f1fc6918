// What kube-proxy's iptables mode (v1.28 and later, IPv4, ClusterIP
// Services) writes on a full sync, as the iptables-restore payload it sends
// (pkg/proxy/iptables/proxier.go, syncProxyRules), in the order it writes
// lines. Services are taken in a fixed order (kube-proxy iterates a Go map,
// so its own order varies from sync to sync); normalize.ts gives the form
// kube-proxy's tests compare.

import { parseCidr } from '../events/tuple.js';
import { endpointChain, serviceChain, servicePortName, type PortRef } from './chains.js';

export interface Endpoint {
  ip: string;
  port: number;
  // endpoints with ready === false are left out, as kube-proxy does
  ready?: boolean;
}

export interface ServicePort extends PortRef {
  clusterIP: string;
  port: number;
  endpoints: Endpoint[];
}

export interface KubeProxyOptions {
  masqueradeAll: boolean;
  // detectLocalMode ClusterCIDR: with no CIDR the detector is a no-op and
  // off-cluster traffic to a ClusterIP is not masqueraded
  clusterCIDR: string | null;
  // iptables.masqueradeBit (default 14)
  masqueradeBit?: number;
  // kube-proxy adds --random-fully when iptables is 1.6.2 or newer
  randomFully?: boolean;
  // kube-proxy's unit tests hard-code "0x4000"; the real proxier formats
  // the mark with Go's %#08x ("0x00004000")
  markStyle?: 'real' | 'test';
  localhostNodePorts?: boolean;
}

export function masqueradeMark(options: KubeProxyOptions): string {
  const value = 1 << (options.masqueradeBit ?? 14);
  if (options.markStyle === 'test') return `0x${value.toString(16)}`;
  return `0x${value.toString(16).padStart(8, '0')}`;
}

// Go's fmt.Sprintf("%0.10f", 1.0/float64(n)): exact decimal rounding,
// ties to even (1/2048 → 0.0004882812, where toFixed would round up).
export function probability(n: number): string {
  const scale = 10n ** 10n;
  const N = BigInt(n);
  let q = scale / N;
  const r = scale % N;
  if (2n * r > N || (2n * r === N && q % 2n === 1n)) q += 1n;
  const whole = q / scale;
  const frac = (q % scale).toString().padStart(10, '0');
  return `${whole}.${frac}`;
}

function readyEndpoints(svc: ServicePort): string[] {
  const seen = new Set<string>();
  for (const ep of svc.endpoints) if (ep.ready !== false) seen.add(`${ep.ip}:${ep.port}`);
  // EndpointSliceCache sorts endpoints as strings: "10.0.0.10:80" < "10.0.0.2:80"
  return [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function byName(a: ServicePort, b: ServicePort): number {
  const na = servicePortName(a);
  const nb = servicePortName(b);
  return na < nb ? -1 : na > nb ? 1 : a.port - b.port;
}

export function renderRestore(services: ServicePort[], options: KubeProxyOptions): string {
  // the payload goes to iptables-restore as root: a CIDR is checked where it is given (lab/clusterCidr.ts),
  // and one that is not canonical (010.… would be read as octal) is a bug here, never written
  if (options.clusterCIDR !== null && parseCidr(options.clusterCIDR) === null)
    throw new Error(`clusterCIDR ${JSON.stringify(options.clusterCIDR)} is not a canonical IPv4 CIDR`);
  const mark = masqueradeMark(options);
  const localhostNodePorts = options.localhostNodePorts ?? true;
  const filterChains = [
    'KUBE-SERVICES',
    'KUBE-EXTERNAL-SERVICES',
    'KUBE-FORWARD',
    'KUBE-NODEPORTS',
    'KUBE-PROXY-FIREWALL',
  ];
  const filterRules: string[] = [];
  const natChains = ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'];
  const natRules: string[] = [
    `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`,
    `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${options.randomFully ? ' --random-fully' : ''}`,
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`,
  ];
  if (localhostNodePorts) {
    filterChains.push('KUBE-FIREWALL');
    filterRules.push(
      '-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP',
    );
  }

  for (const svc of [...services].sort(byName)) {
    const name = servicePortName(svc);
    const proto = svc.protocol.toLowerCase();
    const svcChain = serviceChain(svc);
    const endpoints = readyEndpoints(svc);
    const match = `-m comment --comment "${name} cluster IP" -m ${proto} -p ${proto} -d ${svc.clusterIP} --dport ${svc.port}`;
    if (endpoints.length === 0) {
      filterRules.push(
        `-A KUBE-SERVICES -m comment --comment "${name} has no endpoints" -m ${proto} -p ${proto} -d ${svc.clusterIP} --dport ${svc.port} -j REJECT`,
      );
      continue;
    }
    natRules.push(`-A KUBE-SERVICES ${match} -j ${svcChain}`);
    // The rule the incident turns on: traffic to the ClusterIP is marked for
    // masquerade only with masqueradeAll, or when it comes from outside a known cluster CIDR.
    if (options.masqueradeAll) natRules.push(`-A ${svcChain} ${match} -j KUBE-MARK-MASQ`);
    else if (options.clusterCIDR)
      natRules.push(`-A ${svcChain} ${match} ! -s ${options.clusterCIDR} -j KUBE-MARK-MASQ`);
    natChains.push(svcChain);
    endpoints.forEach((ep, i) => {
      const statistic =
        i < endpoints.length - 1
          ? ` -m statistic --mode random --probability ${probability(endpoints.length - i)}`
          : '';
      natRules.push(`-A ${svcChain} -m comment --comment "${name} -> ${ep}"${statistic} -j ${endpointChain(svc, ep)}`);
    });
    for (const ep of endpoints) {
      const sep = endpointChain(svc, ep);
      const ip = ep.slice(0, ep.lastIndexOf(':'));
      natChains.push(sep);
      // hairpin: a pod reaching its own Service must be masqueraded
      natRules.push(`-A ${sep} -m comment --comment ${name} -s ${ip} -j KUBE-MARK-MASQ`);
      natRules.push(`-A ${sep} -m comment --comment ${name} -m ${proto} -p ${proto} -j DNAT --to-destination ${ep}`);
    }
  }

  natRules.push(
    `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL${localhostNodePorts ? '' : ' ! -d 127.0.0.0/8'} -j KUBE-NODEPORTS`,
  );
  filterRules.push(
    '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  );

  const chainLine = (c: string) => `:${c} - [0:0]`;
  return [
    '*filter',
    ...filterChains.map(chainLine),
    ...filterRules,
    'COMMIT',
    '*nat',
    ...natChains.map(chainLine),
    ...natRules,
    'COMMIT',
    '',
  ].join('\n');
}

export interface JumpRule {
  table: 'filter' | 'nat';
  chain: string; // the built-in chain
  target: string;
  args: string[]; // without -j
}

// Jumps kube-proxy ensures from the built-in chains before each full sync
// (iptablesJumpChains + iptablesKubeletJumpChains): each checked with
// `iptables -C` and inserted at the top with `iptables -I` when missing.
export const JUMP_RULES: JumpRule[] = [
  {
    table: 'filter',
    chain: 'INPUT',
    target: 'KUBE-EXTERNAL-SERVICES',
    args: [
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      '-m',
      'comment',
      '--comment',
      'kubernetes externally-visible service portals',
    ],
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: 'KUBE-EXTERNAL-SERVICES',
    args: [
      '-m',
      'conntrack',
      '--ctstate',
      'NEW',
      '-m',
      'comment',
      '--comment',
      'kubernetes externally-visible service portals',
    ],
  },
  {
    table: 'filter',
    chain: 'INPUT',
    target: 'KUBE-NODEPORTS',
    args: ['-m', 'comment', '--comment', 'kubernetes health check service ports'],
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: 'KUBE-SERVICES',
    args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    target: 'KUBE-SERVICES',
    args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: 'KUBE-FORWARD',
    args: ['-m', 'comment', '--comment', 'kubernetes forwarding rules'],
  },
  {
    table: 'filter',
    chain: 'INPUT',
    target: 'KUBE-PROXY-FIREWALL',
    args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall'],
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    target: 'KUBE-PROXY-FIREWALL',
    args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall'],
  },
  {
    table: 'filter',
    chain: 'FORWARD',
    target: 'KUBE-PROXY-FIREWALL',
    args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes load balancer firewall'],
  },
  {
    table: 'nat',
    chain: 'OUTPUT',
    target: 'KUBE-SERVICES',
    args: ['-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'nat',
    chain: 'PREROUTING',
    target: 'KUBE-SERVICES',
    args: ['-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'nat',
    chain: 'POSTROUTING',
    target: 'KUBE-POSTROUTING',
    args: ['-m', 'comment', '--comment', 'kubernetes postrouting rules'],
  },
  { table: 'filter', chain: 'INPUT', target: 'KUBE-FIREWALL', args: [] },
  { table: 'filter', chain: 'OUTPUT', target: 'KUBE-FIREWALL', args: [] },
];

function quoteForRestore(arg: string): string {
  return /\s/.test(arg) ? `"${arg}"` : arg;
}

// What a freshly started kube-proxy does before its first sync on a node
// with no rules yet, as one iptables-restore --noflush payload: the canary
// chains (ipt.Monitor), the target chains (EnsureChain) and the jumps,
// inserted at the top in list order (so they end up in reverse order, as
// kube-proxy's repeated `iptables -I` leaves them).
export function renderStartup(): string {
  const lines: string[] = ['*mangle', ':KUBE-PROXY-CANARY - [0:0]', 'COMMIT'];
  for (const table of ['filter', 'nat'] as const) {
    lines.push(`*${table}`, ':KUBE-PROXY-CANARY - [0:0]');
    const targets = [...new Set(JUMP_RULES.filter((j) => j.table === table).map((j) => j.target))];
    for (const t of targets) lines.push(`:${t} - [0:0]`);
    for (const j of JUMP_RULES.filter((r) => r.table === table)) {
      lines.push(['-I', j.chain, ...j.args.map(quoteForRestore), '-j', j.target].join(' '));
    }
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}
