// Chain names exactly as kube-proxy derives them (pkg/proxy/iptables):
// prefix + the first 16 characters of base32(sha256(name + protocol [+ endpoint])),
// where name is "namespace/service:portName" (":portName" only for named
// ports), protocol is lower-case and the endpoint is "ip:targetPort".

import { createHash } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// RFC 4648 base32 (the alphabet of Go's base32.StdEncoding), without padding.
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

function hash16(text: string): string {
  return base32(createHash('sha256').update(text, 'utf8').digest()).slice(0, 16);
}

export interface PortRef {
  namespace: string;
  name: string;
  portName: string;
  protocol: string;
}

// "ns/name:port", or "ns/name" for an unnamed port (proxy.ServicePortName.String()).
export function servicePortName(p: PortRef): string {
  return `${p.namespace}/${p.name}${p.portName ? `:${p.portName}` : ''}`;
}

export function serviceChain(p: PortRef): string {
  return `KUBE-SVC-${hash16(servicePortName(p) + p.protocol.toLowerCase())}`;
}

export function endpointChain(p: PortRef, endpoint: string): string {
  return `KUBE-SEP-${hash16(servicePortName(p) + p.protocol.toLowerCase() + endpoint)}`;
}
