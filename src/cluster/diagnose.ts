// What `cluster diagnose` concludes about one client's connection to a
// Service, from the events the traced nodes reported and the API's
// objects: the flow's story (DNAT where, SNAT or not, the endpoint's node,
// drops), a verdict, and what was and was not seen. Pure: events and
// objects in, a diagnosis out (test/cluster/diagnose.test.ts feeds it the
// lab's recorded events). A node sees only its own kernel, so a verdict
// says what the traced nodes saw; what happens outside them (a VPN, a cloud
// firewall) is never claimed, only named as where the rest can be.

import { z } from 'zod';
import { isVerdictDrop } from '../events/story.js';
import { endpoint } from '../events/tuple.js';
import type { DropEvent, NatEvent, NatscopeEvent } from '../events/types.js';
import type { ProbeFamily } from '../tracer/parse.js';
import type { ClusterObjects } from './names.js';

export interface ServiceTarget {
  namespace: string;
  name: string;
  ip: string;
  port: number;
}

export interface ServiceEndpoint {
  ip: string;
  // the node the endpoint's pod runs on (EndpointSlice nodeName), when known
  node: string | null;
  // "namespace/pod", when known
  pod: string | null;
}

export interface DiagnoseInput {
  service: ServiceTarget;
  endpoints: ServiceEndpoint[];
  // the client's address, when known (--from-ip, --from-pod); else the first DNAT or drop tells it
  clientIp: string | null;
  // the client's port, when known (the request pod's): only that connection is judged
  clientPort?: number | null;
  // the request natscope sent: answered or not; null when natscope only watched
  answered: boolean | null;
  events: NatscopeEvent[];
  // whether an address is the cluster's (a pod's, a node's, in a node's pod CIDR): such a client's
  // replies come back through its own node, so only a client outside can be bypassed
  inCluster: (ip: string) => boolean;
  nodes: string[];
  probes: ProbeFamily[];
}

export const VERDICTS = [
  // the client got its answer
  'answered',
  // DNAT on one node, the endpoint on another, no SNAT: the reply leaves that node straight to the client
  'reply-bypasses-dnat',
  // a traced node's kernel dropped a packet of the connection
  'dropped',
  // no answer, and nothing the traced nodes saw explains it
  'no-answer-unexplained',
  // natscope only watched, and saw no traffic of the client to the Service
  'not-seen',
  // natscope only watched, saw the connection, and nothing that says it failed
  'seen-no-fault',
] as const;
export type Verdict = (typeof VERDICTS)[number];

const DropSeenSchema = z.object({
  // the nodes whose bpftrace reported it
  nodes: z.array(z.string()),
  netns: z.int().min(0),
  reason: z.string(),
  location: z.string(),
  packet: z.string(),
  // the reply (endpoint → client) or the request
  direction: z.enum(['reply', 'request']),
});
export type DropSeen = z.infer<typeof DropSeenSchema>;

// What `natscope cluster diagnose --json` prints.
export const DiagnosisSchema = z.object({
  service: z.string(),
  target: z.string(),
  client: z.string().nullable(),
  verdict: z.enum(VERDICTS),
  summary: z.string(),
  dnat: z
    .object({
      node: z.string(),
      from: z.string(),
      to: z.string(),
      endpointNode: z.string().nullable(),
      endpointPod: z.string().nullable(),
    })
    .nullable(),
  snat: z.object({ node: z.string(), to: z.string() }).nullable(),
  drops: z.array(DropSeenSchema),
  story: z.array(z.string()),
  seen: z.array(z.string()),
  notSeen: z.array(z.string()),
});
export type Diagnosis = z.infer<typeof DiagnosisSchema>;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4Number(ip: string): number | null {
  const m = IPV4.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

// The cluster's own addresses, as the API lists them: pods', nodes', and the nodes' pod CIDRs; and `extra` (the request pod's).
export function clusterAddressTest(objects: ClusterObjects, extra: string[] = []): (ip: string) => boolean {
  const known = new Set(extra);
  for (const p of objects.pods) {
    if (p.status.podIP) known.add(p.status.podIP);
    for (const a of p.status.podIPs ?? []) known.add(a.ip);
  }
  for (const n of objects.nodes) for (const a of n.status.addresses) known.add(a.address);
  const ranges: [number, number][] = [];
  for (const n of objects.nodes) {
    const [base, bits] = (n.spec.podCIDR ?? '').split('/');
    const start = ipv4Number(base ?? '');
    const length = Number(bits);
    if (start === null || !Number.isInteger(length) || length < 8 || length > 32) continue;
    const size = 2 ** (32 - length);
    ranges.push([start - (start % size), size]);
  }
  return (ip) => {
    if (known.has(ip)) return true;
    const n = ipv4Number(ip);
    return n !== null && ranges.some(([start, size]) => n >= start && n < start + size);
  };
}

export function diagnose(input: DiagnoseInput): Diagnosis {
  const { service } = input;
  const target = endpoint(service.ip, service.port);
  const toService = (e: NatEvent) => e.orig.dst === service.ip && e.orig.dport === service.port;
  const dnats = input.events.filter(
    (e): e is NatEvent =>
      e.kind === 'nat' &&
      e.manip === 'DNAT' &&
      toService(e) &&
      (!input.clientIp || e.orig.src === input.clientIp) &&
      (!input.clientPort || e.orig.sport === input.clientPort),
  );
  const firstDnat = dnats[0] ?? null;
  const endpointIps = new Set(input.endpoints.map((e) => e.ip));
  // the connection: the client's address and port, from its DNAT, or from a drop of its packets
  const relevantDrop = (d: DropEvent) =>
    isVerdictDrop(d) &&
    ((d.packet.dst === service.ip && d.packet.dport === service.port) ||
      endpointIps.has(d.packet.src) ||
      endpointIps.has(d.packet.dst));
  let client = firstDnat ? { ip: firstDnat.orig.src, port: firstDnat.orig.sport } : null;
  const drops0 = input.events.filter((e): e is DropEvent => e.kind === 'drop' && relevantDrop(e));
  // an answered client's port is known only from its DNAT: a drop then is another connection's
  const fromDrop = !client && input.answered !== true;
  if (fromDrop) {
    const port = input.clientPort;
    const d = drops0.find(
      (x) =>
        (!input.clientIp || x.packet.dst === input.clientIp || x.packet.src === input.clientIp) &&
        (!port || x.packet.sport === port || x.packet.dport === port),
    );
    if (d) {
      const request = d.packet.dst === service.ip || endpointIps.has(d.packet.dst);
      client = request ? { ip: d.packet.src, port: d.packet.sport } : { ip: d.packet.dst, port: d.packet.dport };
    }
  }
  if (!client && input.clientIp) client = { ip: input.clientIp, port: input.clientPort ?? 0 };

  // this connection's NAT bindings (every node that reported them)
  const ofClient = (src: string, sport: number) =>
    client !== null && src === client.ip && (client.port === 0 || sport === client.port);
  const dnat = dnats.find((e) => ofClient(e.orig.src, e.orig.sport)) ?? null;
  const snat =
    input.events.find(
      (e): e is NatEvent =>
        e.kind === 'nat' && e.manip === 'SNAT' && toService(e) && ofClient(e.orig.src, e.orig.sport),
    ) ?? null;
  const endpointOf = (ip: string) => input.endpoints.find((e) => e.ip === ip) ?? null;
  const chosen = dnat ? endpointOf(dnat.to.ip) : null;

  // the drops of this connection's packets, one entry per packet and reason (every node that saw it)
  const drops: DropSeen[] = [];
  for (const d of drops0) {
    const p = d.packet;
    const mine =
      client !== null &&
      ((p.src === client.ip && (client.port === 0 || p.sport === client.port)) ||
        (p.dst === client.ip && (client.port === 0 || p.dport === client.port)));
    if (!mine) continue;
    const packet = `${p.proto} ${endpoint(p.src, p.sport)} → ${endpoint(p.dst, p.dport)}${p.flags.length ? ` ${p.flags.join(',')}` : ''}`;
    const seen = drops.find((x) => x.packet === packet && x.reason === d.reason && x.netns === d.netns);
    if (seen) {
      if (!seen.nodes.includes(d.host)) seen.nodes.push(d.host);
      continue;
    }
    drops.push({
      nodes: [d.host],
      netns: d.netns,
      reason: d.reason,
      location: d.location,
      packet,
      direction: p.dst === client?.ip ? 'reply' : 'request',
    });
  }

  for (const d of drops) d.nodes.sort();

  const story: string[] = [];
  const seen: string[] = [];
  const notSeen: string[] = [];
  const tracedNat = input.probes.includes('nat');
  const tracedDrop = input.probes.includes('drop');
  const where = input.nodes.join(', ');
  if (client)
    story.push(
      `client ${client.port ? endpoint(client.ip, client.port) : client.ip} → ${target} (${service.namespace}/${service.name})`,
    );
  if (dnat) {
    const pod = chosen?.pod ? ` (${chosen.pod}${chosen.node ? ` on ${chosen.node}` : ''})` : '';
    story.push(`${dnat.host}: DNAT ${target} ⇒ ${endpoint(dnat.to.ip, dnat.to.port)}${pod}`);
    seen.push(`the DNAT on ${dnat.host}`);
    if (snat) {
      story.push(
        `${snat.host}: SNAT ⇒ ${snat.to.ip}: the endpoint answers ${snat.to.ip}, so the reply comes back through ${snat.host}`,
      );
      seen.push(`the SNAT on ${snat.host}`);
    } else {
      story.push(`${dnat.host}: no SNAT: the endpoint answers the client's own address ${client?.ip ?? '?'}`);
    }
  } else if (tracedNat) {
    notSeen.push(
      `no DNAT to ${target} on the traced nodes (${where}): the client's packets reached none of them, or a node not traced DNATed them`,
    );
  } else {
    notSeen.push('the DNAT: the nat probe was not running (--probes)');
  }
  if (!dnat && client && fromDrop && !input.clientPort) {
    notSeen.push(
      "the connection's own port: without its DNAT it is taken from the first drop of a packet to or from the endpoint (an earlier connection's retransmission would look the same)",
    );
  }
  for (const d of drops) {
    story.push(
      `${d.nodes.join(', ')}: ✗ ${d.reason} at ${d.location} (network namespace ${d.netns}): the ${d.direction}, ${d.packet}`,
    );
    seen.push(`the drop of the ${d.direction} (${d.reason})`);
  }
  if (drops.length === 0) {
    notSeen.push(
      tracedDrop
        ? `no drop of the connection's packets on the traced nodes (${where}): if it died, it died outside them (a VPN, a cloud firewall: natscope cannot trace there)`
        : 'drops: the drop probe was not running (--probes)',
    );
  }
  if (input.answered === true) story.push('the client was answered');
  if (input.answered === false) story.push(`the client was not answered`);

  const bypass =
    dnat !== null &&
    snat === null &&
    chosen?.node != null &&
    chosen.node !== dnat.host &&
    client !== null &&
    !input.inCluster(client.ip);
  let verdict: Verdict;
  let summary: string;
  if (input.answered === true) {
    verdict = 'answered';
    summary = `answered${dnat ? ` (DNAT on ${dnat.host}${snat ? `, SNAT ⇒ ${snat.to.ip}` : ''})` : ''}`;
  } else if (bypass && chosen?.node) {
    verdict = 'reply-bypasses-dnat';
    summary = `the reply leaves ${chosen.node} straight for ${client?.ip}, not through ${dnat?.host}, which holds the DNAT: a stateful hop on the way back (a VPN, a firewall) sees a reply without its request (fix: kube-proxy masqueradeAll or a clusterCIDR; docs/cluster.md)`;
  } else if (drops.length > 0) {
    const d = drops[0]!;
    verdict = 'dropped';
    summary = `the ${d.direction} was dropped (${d.reason} at ${d.location}) in network namespace ${d.netns}, seen from ${d.nodes.join(', ')}`;
  } else if (input.answered === false) {
    verdict = 'no-answer-unexplained';
    summary = `not answered, and the traced nodes saw nothing that explains it: ${notSeen.join('; ')}`;
  } else if (client === null || (!dnat && drops.length === 0)) {
    verdict = 'not-seen';
    summary = `no traffic from ${input.clientIp ?? 'the client'} to ${target} was seen on the traced nodes (${where})`;
  } else {
    verdict = 'seen-no-fault';
    summary = `the connection was seen${snat ? ` (SNAT on ${snat.host}: the reply comes back through it)` : ''} and nothing on the traced nodes failed it; whether the client was answered is the client's to say`;
  }
  return {
    service: `${service.namespace}/${service.name}`,
    target,
    client: client ? (client.port ? endpoint(client.ip, client.port) : client.ip) : null,
    verdict,
    summary,
    dnat: dnat
      ? {
          node: dnat.host,
          from: target,
          to: endpoint(dnat.to.ip, dnat.to.port),
          endpointNode: chosen?.node ?? null,
          endpointPod: chosen?.pod ?? null,
        }
      : null,
    snat: snat ? { node: snat.host, to: snat.to.ip } : null,
    drops,
    story,
    seen,
    notSeen,
  };
}
