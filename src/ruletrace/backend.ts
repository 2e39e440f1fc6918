// Rule tracing reads the kernel's nftables trace (nftrace). iptables-nft's
// rules are nftables rules and show in it; iptables-legacy's are xtables
// rules, which nftrace never reports. A rule path traced on a legacy lab
// would miss every kube-proxy rule and read as "no rule met it": refused,
// with the way to a lab whose rules nftrace sees.

import { NatscopeError } from '../errors.js';
import type { ProxyMode } from '../events/types.js';

export function requireTraceableRules(backend: 'nft' | 'legacy', mode: ProxyMode, where: string, fix: string): void {
  // nftables mode writes its own nftables table whatever iptables is
  if (mode === 'nftables' || backend === 'nft') return;
  throw new NatscopeError(
    `kube-proxy's rules on ${where} are iptables-legacy rules, which the kernel's rule tracing (nftrace) does not report`,
    { hint: fix, exitCode: 2 },
  );
}
