// A flow told hop by hop, from its events alone (plus the lab's names):
//   office → vpn → node1 [DNAT 10.96.0.20:3306 ⇒ 10.244.2.2:3306] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP
// Forward hops are the hosts whose conntrack or NAT reported the flow, in
// the order the request's addresses say it crossed them (kernel time among
// hosts that saw the same addresses). The return path is what the evidence says: a dropped
// reply whose source is still the pod's IP never passed the host that did
// the DNAT (that host would have rewritten it back to the ClusterIP).

import { endpoint } from './tuple.js';
import type { Flow } from './flows.js';
import type { DropEvent, KernelEvent, LabStatus, NatEvent } from './types.js';

export type Verdict = 'answered' | 'dropped' | 'timeout' | 'refused' | 'in-flight';

export interface Hop {
  host: string;
  role: 'client' | 'hop' | 'pod' | 'drop' | 'end';
  note?: string;
}

export interface FlowStory {
  path: string;
  hops: Hop[];
  verdict: Verdict;
  client: string;
  service: string | null;
  pod: string | null;
  dnat: NatEvent | null;
  snat: NatEvent | null;
  dropReason: string | null;
  dropHost: string | null;
}

export function hostByIp(lab: LabStatus | null, ip: string): string | null {
  if (!lab) return null;
  for (const [name, host] of Object.entries(lab.hosts)) if (host.ip === ip) return name;
  const pod = lab.pods.find((p) => p.ip === ip);
  return pod ? pod.name : null;
}

export function serviceByAddress(lab: LabStatus | null, ip: string, port: number): string | null {
  const svc = lab?.services.find((s) => s.clusterIP === ip && (port === 0 || s.port === port));
  return svc ? `${svc.namespace}/${svc.name}` : null;
}

export function describeFlow(flow: Flow, lab: LabStatus | null): FlowStory {
  const byTime = [...flow.events].sort((a, b) => a.t - b.t);
  const client = flow.requests[0]?.src ?? flow.first.src;
  const clientName = hostByIp(lab, client) ?? client;
  const dnat = flow.nat.find((n) => n.manip === 'DNAT') ?? null;
  const snat = flow.nat.find((n) => n.manip === 'SNAT') ?? null;
  // Sockets free packets with reason NOT_SPECIFIED (6.12: QUEUE_PURGE at
  // teardown) in their normal life: those do not end a connection's story.
  const drop = flow.drops.find(isVerdictDrop) ?? null;
  const finalDst = dnat ? dnat.to.ip : flow.first.dst;
  const podName = hostByIp(lab, finalDst);
  const pod = lab?.pods.find((p) => p.ip === finalDst) ?? null;

  // forward hops: hosts whose conntrack/NAT saw the request, in time order,
  // then in the order the request's addresses say it went (causalRank)
  const forward: string[] = [];
  for (const e of byTime) {
    if (
      (e.kind === 'ct-new' || e.kind === 'nat' || e.kind === 'rewrite') &&
      !forward.includes(e.host) &&
      e.host !== clientName
    ) {
      forward.push(e.host);
    }
  }
  const rank = new Map(forward.map((host) => [host, causalRank(flow, host, dnat, snat)]));
  forward.sort((a, b) => rank.get(a)! - rank.get(b)!);
  const notes = new Map<string, string>();
  for (const host of forward) {
    const parts: string[] = [];
    const d = flow.nat.find((n) => n.host === host && n.manip === 'DNAT');
    const s = flow.nat.find((n) => n.host === host && n.manip === 'SNAT');
    if (d) parts.push(`DNAT ${endpoint(d.orig.dst, d.orig.dport)} ⇒ ${endpoint(d.to.ip, d.to.port)}`);
    if (s) parts.push(`SNAT ⇒ ${s.to.ip}`);
    if (parts.length) notes.set(host, parts.join(' + '));
  }

  const hops: Hop[] = [{ host: clientName, role: 'client' }];
  for (const host of forward) hops.push({ host, role: 'hop', ...(notes.has(host) ? { note: notes.get(host)! } : {}) });

  const request = flow.requests[flow.requests.length - 1];
  let verdict: Verdict = 'in-flight';
  const podHop = pod?.name ?? podName;
  const reachedPod = podHop !== null && (drop === null || drop.packet.src === finalDst);
  if (reachedPod && podHop) hops.push({ host: podHop, role: 'pod' });

  if (drop) {
    verdict = 'dropped';
    const isReply = drop.packet.src === finalDst || drop.packet.dst === client;
    if (isReply) {
      // the reply leaves the pod's node, then goes wherever routing sends it until the drop
      const podNode = pod?.node ?? forward[forward.length - 1];
      if (podNode && podNode !== drop.host) hops.push({ host: podNode, role: 'hop' });
    }
    const last = hops[hops.length - 1];
    if (last && last.host === drop.host && last.role === 'hop') hops.pop(); // dropped where it already was
    hops.push({ host: drop.host, role: 'drop', note: drop.reason });
  } else if (request) {
    verdict = request.outcome === 'answered' ? 'answered' : request.outcome === 'refused' ? 'refused' : 'timeout';
    if (verdict === 'answered') {
      for (const host of [...forward].reverse()) hops.push({ host, role: 'hop' });
      hops.push({ host: clientName, role: 'end' });
    }
  } else if (flow.events.some((e) => e.kind === 'ct-new' && e.status.includes('SEEN_REPLY'))) {
    verdict = 'answered';
  }

  return {
    path: renderPath(hops, verdict),
    hops,
    verdict,
    client: clientName,
    service: dnat
      ? serviceByAddress(lab, dnat.orig.dst, dnat.orig.dport)
      : serviceByAddress(lab, flow.first.dst, flow.first.dport),
    pod: podHop,
    dnat,
    snat,
    dropReason: drop?.reason ?? null,
    dropHost: drop?.host ?? null,
  };
}

// Where a host sits on the request's way, from what it saw rather than when:
// 0 before the NAT (it saw the addresses the client sent), 1 the host that
// translated them, 2 after it (it saw the translated addresses). Hosts on one
// kernel stamp events from one clock, and this is their time order already;
// on a real cluster each node's clock is moved onto natscope's through wall
// time, which NTP keeps only to milliseconds (and a host without it, not at
// all), while a node answers in well under one: a pod's node could otherwise
// be told before the node whose DNAT sent the request there. A stable sort
// keeps time order among hosts of one rank. It assumes what a Service
// connection has: one DNAT, and at most one SNAT, on the same host (with two
// translating hosts, one after the other, a host between them ranks as after both).
function causalRank(flow: Flow, host: string, dnat: NatEvent | null, snat: NatEvent | null): number {
  if (flow.nat.some((n) => n.host === host)) return 1;
  if (flow.events.some((e) => e.host === host && e.kind === 'rewrite')) return 1;
  // an address and port the NAT changed (a NAT may change only the port)
  const dnatTo = dnat && (dnat.to.ip !== dnat.orig.dst || dnat.to.port !== dnat.orig.dport) ? dnat.to : null;
  const snatTo = snat && (snat.to.ip !== snat.orig.src || snat.to.port !== snat.orig.sport) ? snat.to : null;
  const translated = (e: KernelEvent) =>
    (e.kind === 'ct-new' || e.kind === 'ct-destroy' || e.kind === 'nat') &&
    ((dnatTo !== null && e.orig.dst === dnatTo.ip && e.orig.dport === dnatTo.port) ||
      (snatTo !== null && e.orig.src === snatTo.ip && e.orig.sport === snatTo.port));
  return flow.events.some((e) => e.host === host && translated(e)) ? 2 : 0;
}

export function isVerdictDrop(drop: DropEvent): boolean {
  if (drop.reason === 'NOT_SPECIFIED') return false;
  // a closing socket's queue, emptied: newer kernels (6.12) name what 6.1 frees as NOT_SPECIFIED
  if (drop.reason === 'QUEUE_PURGE') return false;
  // an echo reply reaches ping through its raw socket; the kernel then frees the original as NO_SOCKET
  if (drop.packet.proto === 'icmp' && drop.reason === 'NO_SOCKET') return false;
  return true;
}

export function renderPath(hops: Hop[], verdict: Verdict): string {
  const parts = hops.map((h) => {
    if (h.role === 'drop') return `${h.host} ✗ ${h.note ?? 'DROP'}`;
    if (h.role === 'end') return `${h.host} ✓`;
    return h.note ? `${h.host} [${h.note}]` : h.host;
  });
  let path = parts.join(' → ');
  if (verdict === 'timeout') path += ' … no answer';
  if (verdict === 'refused') path += ' ✗ refused';
  if (verdict === 'in-flight') path += ' …';
  return path;
}

// A compact, JSON-friendly summary for replay --flows and scripts.
export function formatFlowSummary(flow: Flow, lab: LabStatus | null) {
  const story = describeFlow(flow, lab);
  return {
    path: story.path,
    verdict: story.verdict,
    client: story.client,
    service: story.service,
    pod: story.pod,
    hosts: flow.hosts,
    events: flow.events.length,
  };
}
