// kube-proxy's clusterCIDR as both labs accept it (lab up --cluster-cidr,
// lab set cluster-cidr): read by the one strict parser (events/tuple.ts),
// and refused with the network meant where that can be told: an octet with
// a leading zero (iptables reads 010 as octal 8), host bits set, and
// 0.0.0.0/0, which iptables-restore refuses as "! -s 0.0.0.0/0".

import { NatscopeError } from '../errors.js';
import { parseCidr } from '../events/tuple.js';

const LOOSE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,3})$/;

function dotted(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

// The network a loosely written CIDR means in decimal, host bits cleared (null: not even that).
function meant(text: string): string | null {
  const m = LOOSE.exec(text);
  if (!m) return null;
  const parts = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (parts.some((p) => p > 255) || bits > 32) return null;
  const addr = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return `${dotted((addr & mask) >>> 0)}/${bits}`;
}

// Why a clusterCIDR is refused, with the fix; null if it is accepted.
export function clusterCidrProblem(text: string): { why: string; hint: string } | null {
  const cidr = parseCidr(text);
  const guess = cidr ? null : meant(text);
  if (cidr?.bits === 0 || guess?.endsWith('/0'))
    return {
      why: 'it matches every address, so no client would count as outside the cluster',
      hint: "give the pods' range (e.g. 10.244.0.0/16); to masquerade every client instead: natscope lab set masquerade-all on",
    };
  if (cidr) return null;
  if (guess === null)
    return { why: 'not an IPv4 network', hint: 'write it as a.b.c.d/n with the host bits zero, e.g. 10.244.0.0/16' };
  const [ip = '', bits = ''] = text.split('/');
  if (/(^|\.)0\d/.test(ip) || /^0\d/.test(bits))
    return {
      why: 'a number with a leading zero (iptables would read 010 as octal 8)',
      hint: `did you mean ${guess}?`,
    };
  return { why: 'host bits are set', hint: `did you mean ${guess}?` };
}

// The clusterCIDR, checked (null: none); a refused one is a usage error.
export function checkCidr(cidr: string | null): string | null {
  if (cidr === null) return null;
  const problem = clusterCidrProblem(cidr);
  if (problem) {
    throw new NatscopeError(`invalid CIDR ${JSON.stringify(cidr)}: ${problem.why}`, {
      hint: problem.hint,
      exitCode: 2,
    });
  }
  return cidr;
}
