// kube-proxy on the lab's nodes: the rules src/kubeproxy renders, applied
// the way kube-proxy applies them: iptables-restore --noflush with the
// whole payload (a full sync), after the startup chains and jumps on a
// node's first sync. Changing an option re-syncs like a restarted kube-proxy.

import type { KubeProxyConfig } from '../../events/types.js';
import { renderRestore, renderStartup } from '../../kubeproxy/rules.js';
import { inNetns } from './exec.js';
import { servicePorts } from './topology.js';

export type IptablesBackend = 'nft' | 'legacy';

export function restoreBinary(backend: IptablesBackend): string {
  return backend === 'legacy' ? 'iptables-legacy-restore' : 'iptables-restore';
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

export async function syncNode(
  ns: string,
  config: KubeProxyConfig,
  backend: IptablesBackend,
  first: boolean,
): Promise<void> {
  const restore = restoreBinary(backend);
  if (first) await inNetns(ns, [restore, '--noflush'], { input: renderStartup() });
  await inNetns(ns, [restore, '--noflush'], { input: nodePayload(config) });
}
