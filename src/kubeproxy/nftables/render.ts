// kube-proxy's nftables ruleset for a node, in the two forms natscope uses:
// the transaction kube-proxy hands to `nft -f` on its first full sync, and
// the table that leaves behind, written as kube-proxy's tests dump it.

import type { ServicePort } from '../rules.js';
import { operationText } from './objects.js';
import { applyOperations, dumpState } from './state.js';
import { type NftablesProxyOptions, syncOperations } from './sync.js';

export function renderTransaction(services: ServicePort[], options: NftablesProxyOptions): string {
  return `${syncOperations(services, options).map(operationText).join('\n')}\n`;
}

// The table after that transaction, on a node where it did not exist yet.
export function renderTable(services: ServicePort[], options: NftablesProxyOptions): string {
  return dumpState(applyOperations(syncOperations(services, options)));
}
