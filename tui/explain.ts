// One plain line per kernel drop reason (enum skb_drop_reason, names as the
// running kernel spells them, prefix removed), for a workshop attendee who
// has never read net/core/dropreason. Reasons not listed fall back to their
// name in words. The VPN's NETFILTER_DROP gets the incident's own meaning:
// its only DROP rule is the cloud fabric's `--ctstate INVALID`.

import type { DropEvent } from '../src/events/types.js';

const REASONS: Record<string, string> = {
  NOT_SPECIFIED: 'freed without a reason: normal socket life (teardown, a duplicate)',
  QUEUE_PURGE: "a closing socket's queue emptied: normal teardown (kernel 6.12 names what 6.1 left unspecified)",
  NO_SOCKET: 'no socket wants it: nothing listens, or the connection is unknown here',
  NETFILTER_DROP: 'an iptables/nftables rule dropped it',
  IP_INNOROUTES: 'no route to its destination on this host',
  IP_OUTNOROUTES: 'no route out of this host',
  IP_RPFILTER: 'reverse-path filter: it arrived on an interface its source is not routed through',
  OTHERHOST: 'addressed to another host (wrong MAC)',
  IP_INADDRERRORS: 'invalid destination address',
  PKT_TOO_SMALL: 'shorter than its headers say',
  PKT_TOO_BIG: 'larger than the path allows',
  TCP_CSUM: 'bad TCP checksum',
  UDP_CSUM: 'bad UDP checksum',
  IP_CSUM: 'bad IP header checksum',
  TCP_INVALID_SEQUENCE: 'TCP sequence number outside the window',
  TCP_RESET: 'the connection was reset',
  TCP_CLOSE: 'the socket is closed',
  TCP_FLAGS: 'invalid TCP flag combination',
  TCP_OLD_DATA: 'data the receiver already has (a retransmission)',
  SOCKET_FILTER: "a socket's BPF filter refused it",
  SOCKET_RCVBUFF: "the socket's receive buffer is full",
  NEIGH_FAILED: 'the next hop did not answer ARP',
  QDISC_DROP: 'the queueing discipline dropped it (queue full or policy)',
  CPU_BACKLOG: 'the CPU backlog queue is full',
  UNHANDLED_PROTO: 'no handler for its protocol',
  NOMEM: 'out of memory',
};

export function explainDrop(drop: Pick<DropEvent, 'reason' | 'host' | 'packet'>, vpnHost = 'vpn'): string {
  if (drop.reason === 'NETFILTER_DROP' && drop.host === vpnHost) {
    const flags = drop.packet.flags;
    // a SYN-ACK (or any ACK) as the first packet the VPN sees of a connection
    if (flags.includes('ACK') && !flags.includes('FIN') && !flags.includes('RST'))
      return 'a reply the VPN never saw a request for';
    return 'the VPN (cloud fabric) drops packets of connections it does not know';
  }
  return REASONS[drop.reason] ?? drop.reason.toLowerCase().replace(/_/g, ' ');
}
