// natscope's own table on a lab host, `table ip natscope-trace`: it sets the
// kernel's trace bit (meta nftrace) on the packets of one traced flow only,
// before raw and conntrack see them, so that every rule of every table the
// packet then meets is reported by `nft monitor trace`. Other traffic only
// fails a few matches. The bit is cleared when a packet crosses into another
// namespace, so each host the flow crosses gets the table.

import { isIPv4 } from 'node:net';
import { NatscopeError } from '../errors.js';

export const TRACE_TABLE = 'natscope-trace';
// one below raw (-300): the bit is set before any other table sees the packet
export const TRACE_PRIORITY = -301;
// the chain whose only traced packet is natscope's readiness probe (see monitor.ts)
export const READY_CHAIN = 'ready';
// where that probe goes: a loopback address nothing in the lab uses
export const READY_ADDRESS = '127.0.0.2';

// The traced flow: the client's address and source port, and, for a Service,
// the leg from the node that masquerades it to the endpoint (a masqueraded
// packet leaves with the node's address and a random port: only its
// addresses and the endpoint's port say which flow it is).
export interface TracedFlow {
  client: string;
  clientPort: number;
  masqueradedLeg: { node: string; endpoint: string; endpointPort: number } | null;
}

function checkAddress(ip: string): string {
  if (!isIPv4(ip)) throw new NatscopeError(`"${ip}" is not an IPv4 address`);
  return ip;
}

function checkPort(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new NatscopeError(`${n} is not a TCP port`);
  return n;
}

// The matches of the traced flow, both ways.
export function flowMatches(flow: TracedFlow): string[] {
  const client = checkAddress(flow.client);
  const p = checkPort(flow.clientPort);
  const matches = [`ip saddr ${client} tcp sport ${p}`, `ip daddr ${client} tcp dport ${p}`];
  const leg = flow.masqueradedLeg;
  if (leg) {
    const node = checkAddress(leg.node);
    const ep = checkAddress(leg.endpoint);
    const epPort = checkPort(leg.endpointPort);
    matches.push(
      `ip saddr ${node} ip daddr ${ep} tcp dport ${epPort}`,
      `ip saddr ${ep} tcp sport ${epPort} ip daddr ${node}`,
    );
  }
  return matches;
}

// The table for `nft -f -`: packets arriving (prerouting) and packets the
// host sends (output) of the flow get the trace bit; a ping to
// READY_ADDRESS is traced in its own chain, for the readiness probe.
export function traceTableScript(flow: TracedFlow): string {
  const mark = flowMatches(flow).map((m) => `    ${m} meta nftrace set 1`);
  return [
    // a table left by a run that was killed is replaced, in the same transaction
    `table ip ${TRACE_TABLE}`,
    `delete table ip ${TRACE_TABLE}`,
    `table ip ${TRACE_TABLE} {`,
    '  chain prerouting {',
    `    type filter hook prerouting priority ${TRACE_PRIORITY}; policy accept;`,
    ...mark,
    '  }',
    '  chain output {',
    `    type filter hook output priority ${TRACE_PRIORITY}; policy accept;`,
    ...mark,
    '  }',
    `  chain ${READY_CHAIN} {`,
    `    type filter hook output priority ${TRACE_PRIORITY - 1}; policy accept;`,
    `    ip daddr ${READY_ADDRESS} icmp type echo-request meta nftrace set 1`,
    '  }',
    '}',
    '',
  ].join('\n');
}

// One host's records, one list per packet. A trace id is a hash of the
// packet's buffer address, flow hash and input interface, so a later packet
// of the same flow (a retransmitted SYN in a reused buffer) can get the
// same id: a packet starts where natscope's own chain first reports it
// (each packet meets one of them once per host, where its trace bit is
// set), and carries on under its id until the next packet with that id starts.
export function packetsOf<R extends { id: string; table: string; chain: string; kind: string }>(records: R[]): R[][] {
  const packets: R[][] = [];
  const open = new Map<string, R[]>();
  for (const r of records) {
    let current = open.get(r.id);
    const starts = r.table === TRACE_TABLE && r.kind === 'packet';
    if (!current || starts) {
      current = [];
      packets.push(current);
      open.set(r.id, current);
    }
    current.push(r);
  }
  return packets;
}

// Whether a packet is one of natscope's readiness probes (or the probe looped back through lo).
export function isProbe(
  packet: { table: string; chain: string; kind: string; packet?: { daddr: string | null } }[],
): boolean {
  return packet.some(
    (r) =>
      (r.table === TRACE_TABLE && r.chain === READY_CHAIN) ||
      (r.kind === 'packet' && r.packet?.daddr === READY_ADDRESS),
  );
}
