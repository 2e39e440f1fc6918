// kube-proxy on the lab's nodes: the rules src/kubeproxy renders, applied
// the way kube-proxy applies them in its mode.
//   iptables mode: iptables-restore --noflush with the whole payload (a full
//   sync), after the startup chains and jumps on a node's first sync.
//   nftables mode: one `nft -f` transaction per node, the one kube-proxy's
//   nftables proxier sends on its first full sync (it creates or empties
//   every chain, set and map of table ip kube-proxy, so it is also the re-sync).
// Changing an option re-syncs like a restarted kube-proxy.

import type { IptablesBackend, KubeProxyConfig } from '../../events/types.js';
import { renderTransaction } from '../../kubeproxy/nftables/render.js';
import type { NftablesProxyOptions } from '../../kubeproxy/nftables/sync.js';
import { FAMILY, TABLE } from '../../kubeproxy/nftables/objects.js';
import { renderRestore, renderStartup } from '../../kubeproxy/rules.js';
import { inNetns } from './exec.js';
import { HOSTS, NETWORKS, type NodeName, servicePorts } from './topology.js';

// iptables-restore's argv. Legacy restores take the machine-wide xtables
// lock (/run/xtables.lock), whatever the namespace: the lab restores its
// hosts' rules in parallel, so each waits for it (-w, as kube-proxy does)
// instead of failing with "Another app is currently holding the xtables lock".
export function restoreCommand(backend: IptablesBackend): string[] {
  return backend === 'legacy' ? ['iptables-legacy-restore', '-w', '10'] : ['iptables-restore'];
}

export function saveBinary(backend: IptablesBackend): string {
  return backend === 'legacy' ? 'iptables-legacy-save' : 'iptables-save';
}

export function nodePayload(config: KubeProxyConfig): string {
  // iptables 1.8 here is ≥ 1.6.2, so kube-proxy would add --random-fully
  return renderRestore(servicePorts(), {
    masqueradeAll: config.masqueradeAll,
    clusterCIDR: config.clusterCIDR,
    randomFully: true,
  });
}

// The nftables proxier's options on a lab node: with nodePortAddresses unset
// it takes the node's primary IP for NodePorts, and the Service CIDR comes
// from the cluster's ServiceCIDR object.
export function nftablesOptions(config: KubeProxyConfig, node: NodeName): NftablesProxyOptions {
  return {
    masqueradeAll: config.masqueradeAll,
    clusterCIDR: config.clusterCIDR,
    nodePortIPs: [HOSTS[node].ip],
    serviceCIDRs: [NETWORKS.services],
  };
}

export function nodeTransaction(config: KubeProxyConfig, node: NodeName): string {
  return renderTransaction(servicePorts(), nftablesOptions(config, node));
}

// What `lab rules` prints for a node: the rules of the node's mode as the kernel holds them.
export function rulesCommand(config: KubeProxyConfig, backend: IptablesBackend): string[] {
  return config.mode === 'nftables' ? ['nft', 'list', 'table', FAMILY, TABLE] : [saveBinary(backend), '-t', 'nat'];
}

export async function syncNode(
  ns: string,
  node: NodeName,
  config: KubeProxyConfig,
  backend: IptablesBackend,
  first: boolean,
): Promise<void> {
  if (config.mode === 'nftables') {
    await inNetns(ns, ['nft', '-f', '-'], { input: nodeTransaction(config, node) });
    return;
  }
  const restore = restoreCommand(backend);
  if (first) await inNetns(ns, [...restore, '--noflush'], { input: renderStartup() });
  await inNetns(ns, [...restore, '--noflush'], { input: nodePayload(config) });
}
