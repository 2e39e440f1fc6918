// Chain and set names exactly as kube-proxy's nftables proxier derives them:
// a base "HASH-namespace/service/protocol/portName" (plus
// "__endpointIP/endpointPort" for an endpoint), where HASH is the first 8
// characters of base32(sha256(the rest)), truncated to fit nftables' name
// limit, and a prefix that says what the chain is for.

import { createHash } from 'node:crypto';
import { base32, type PortRef } from '../chains.js';

// nftables limits object names to 256 bytes; kube-proxy keeps 16 for its
// longest prefix (with the hyphen), so a base may use 240.
export const NAME_LENGTH_MAX = 256;
const PREFIX_LENGTH_MAX = 16;
const BASE_LENGTH_MAX = NAME_LENGTH_MAX - PREFIX_LENGTH_MAX;

export const CHAIN_PREFIX = {
  // the chain a Service's cluster-wide endpoints are picked from (internal traffic)
  clusterPolicy: 'service-',
  localPolicy: 'local-',
  external: 'external-',
  endpoint: 'endpoint-',
  affinity: 'affinity-',
  firewall: 'firewall-',
} as const;

// The hash makes a truncated name unique and tells apart names that differ
// in one digit; the cut keeps the result within nftables' limit.
export function hashAndTruncate(name: string): string {
  const hash = base32(createHash('sha256').update(name, 'utf8').digest()).slice(0, 8);
  const full = `${hash}-${name}`;
  return full.length > BASE_LENGTH_MAX ? `${full.slice(0, BASE_LENGTH_MAX - 3)}...` : full;
}

// "/" separates the parts: namespaces, names and port names cannot hold one,
// and nftables allows it in a chain name.
export function servicePortChainBase(p: PortRef): string {
  return hashAndTruncate(`${p.namespace}/${p.name}/${p.protocol.toLowerCase()}/${p.portName}`);
}

// endpoint is "ip:port" or "[ipv6]:port"; an IPv6 address's colons are not
// allowed in a chain name, so they become dots.
export function endpointChainBase(p: PortRef, endpoint: string): string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(endpoint) ?? /^([^:]+):(\d+)$/.exec(endpoint);
  if (!m) throw new Error(`not an endpoint address: ${endpoint}`);
  const ip = m[1]!.replaceAll(':', '.');
  return hashAndTruncate(`${p.namespace}/${p.name}/${p.protocol.toLowerCase()}/${p.portName}__${ip}/${m[2]!}`);
}

export function serviceChainName(p: PortRef): string {
  return CHAIN_PREFIX.clusterPolicy + servicePortChainBase(p);
}

export function endpointChainName(p: PortRef, endpoint: string): string {
  return CHAIN_PREFIX.endpoint + endpointChainBase(p, endpoint);
}
