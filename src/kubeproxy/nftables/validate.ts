// The nftables ruleset is text handed to `nft -f`, and its Services may come
// from a cluster: every name, address and port is checked before it is
// written, so nothing read from outside can add a word of its own to the
// transaction.

import { NatscopeError } from '../../errors.js';
import { parseCidr, parseIPv4 } from '../../events/tuple.js';
import type { ServicePort } from '../rules.js';
import type { NftablesProxyOptions } from './sync.js';

// Kubernetes' own rules: namespaces and Services are DNS-1123 labels, port
// names IANA service names (at most 15 characters, at least one letter).
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PORT_NAME = /^(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;
const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

function invalid(what: string, value: unknown, rule: string): never {
  throw new NatscopeError(`invalid ${what} for the nftables ruleset: ${JSON.stringify(value)}`, {
    hint: `use ${rule}`,
  });
}

const isPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;

export function validateNftablesInput(services: ServicePort[], options: NftablesProxyOptions): void {
  for (const s of services) {
    if (!DNS_LABEL.test(s.namespace)) invalid('namespace', s.namespace, 'a lower-case DNS label');
    if (!DNS_LABEL.test(s.name)) invalid('Service name', s.name, 'a lower-case DNS label');
    if (s.portName !== '' && !PORT_NAME.test(s.portName))
      invalid('port name', s.portName, 'empty, or an IANA service name (a-z, 0-9, -; at most 15)');
    if (!PROTOCOLS.has(s.protocol)) invalid('protocol', s.protocol, 'TCP, UDP or SCTP');
    if (parseIPv4(s.clusterIP) === null) invalid('ClusterIP', s.clusterIP, 'an IPv4 address (a.b.c.d)');
    if (!isPort(s.port)) invalid('Service port', s.port, 'a port number 1-65535');
    for (const ep of s.endpoints) {
      if (parseIPv4(ep.ip) === null) invalid('endpoint address', ep.ip, 'an IPv4 address (a.b.c.d)');
      if (!isPort(ep.port)) invalid('endpoint port', ep.port, 'a port number 1-65535');
    }
  }
  if (options.clusterCIDR !== null && parseCidr(options.clusterCIDR) === null)
    invalid('clusterCIDR', options.clusterCIDR, 'an IPv4 CIDR such as 10.244.0.0/16');
  for (const c of options.serviceCIDRs)
    if (parseCidr(c) === null) invalid('Service CIDR', c, 'an IPv4 CIDR such as 10.96.0.0/16');
  for (const ip of options.nodePortIPs)
    if (parseIPv4(ip) === null) invalid('node address', ip, 'an IPv4 address (a.b.c.d)');
  const bit = options.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 30) invalid('masqueradeBit', bit, 'a bit number 0-30');
}
