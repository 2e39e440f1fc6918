// Which of the kernel's rule tracings reads a lab's kube-proxy rules:
// nftrace for nftables rules (kube-proxy's nftables mode writes its own
// nftables table whatever iptables is; iptables-nft's rules are nftables
// rules too), xt TRACE for iptables-legacy's xtables rules, which nftrace
// never reports (xtMonitor.ts).

import type { IptablesBackend, ProxyMode } from '../events/types.js';
import type { TracedRules } from './monitor.js';

export function tracedRules(iptables: IptablesBackend, mode: ProxyMode): TracedRules {
  return mode === 'iptables' && iptables === 'legacy' ? 'iptables-legacy' : 'nftables';
}
