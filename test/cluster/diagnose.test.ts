// The diagnosis of one connection to a Service, from the lab's recorded
// events (test/fixtures/recordings/incident.jsonl: the real probes in the
// micro-VM) and the same lab's objects as the API would list them. A real
// cluster's node sees only its own kernel, so the nodes' view is the
// recording's events on node1 and node2; the vpn's drop is what a traced
// VPN would add.

import { describe, expect, test } from 'vitest';
import { clusterAddressTest, diagnose } from '../../src/cluster/diagnose.js';
import { NodeSchema, EndpointSliceSchema, PodSchema, ServiceSchema } from '../../src/cluster/kubectl.js';
import { type ClusterDiagnoseOptions, render, resolveTarget } from '../../src/commands/clusterDiagnose.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import type { ProbeFamily } from '../../src/tracer/parse.js';
import { recordedEvents } from '../helpers.js';
import { labObjects, recordedLabStatus } from './fakeCluster.js';

const lab = recordedLabStatus();
const raw = labObjects(lab);
const objects = {
  nodes: raw.nodes!.map((o) => NodeSchema.parse(o)),
  pods: raw.pods!.map((o) => PodSchema.parse(o)),
  services: raw.services!.map((o) => ServiceSchema.parse(o)),
  endpointSlices: raw.endpointslices!.map((o) => EndpointSliceSchema.parse(o)),
};
const events = recordedEvents();
// the recording in its three parts: kube-proxy as found, masqueradeAll on, and after
const fixAt = events.findIndex((e) => e.kind === 'config' && e.change === 'masqueradeAll=true');
const before = events.slice(0, fixAt);
const withFix = events.slice(
  fixAt,
  events.findIndex((e, i) => i > fixAt && e.kind === 'config'),
);
const onNodes = (list: NatscopeEvent[]) => list.filter((e) => e.host === 'node1' || e.host === 'node2');

const options = (target: string, extra: Partial<ClusterDiagnoseOptions> = {}): ClusterDiagnoseOptions => ({
  target,
  serviceNamespace: 'default',
  clientImage: 'busybox:1.36',
  probes: 'nat,conntrack,drop',
  waitS: 60,
  json: false,
  namespace: 'default',
  image: 'i',
  attachTimeoutS: 1,
  readyTimeoutS: 1,
  ...extra,
});

function judge(
  target: string,
  list: NatscopeEvent[],
  answered: boolean | null,
  probes: ProbeFamily[] = ['nat', 'conntrack', 'drop'],
  extra: Partial<ClusterDiagnoseOptions> = {},
) {
  const resolved = resolveTarget(objects, options(target, extra));
  return diagnose({
    ...resolved,
    answered,
    events: list,
    inCluster: clusterAddressTest(objects),
    nodes: ['node1', 'node2'],
    probes,
  });
}

describe('cluster diagnose: the verdict', () => {
  test('mysql as found: DNAT on node1 to the pod on node2, no SNAT: the reply bypasses node1 (the incident)', () => {
    const d = judge('svc/mysql', onNodes(before), false);
    expect(d.verdict).toBe('reply-bypasses-dnat');
    expect(d.dnat).toEqual({
      node: 'node1',
      from: '10.96.207.61:3306',
      to: '10.244.2.2:3306',
      endpointNode: 'node2',
      endpointPod: 'default/mysql',
    });
    expect(d.snat).toBeNull();
    expect(d.client).toBe('192.168.10.10:44600');
    expect(d.summary).toMatch(/the reply leaves node2 straight for 192\.168\.10\.10, not through node1/);
    // the vpn is not a node: its drop is not seen, and the diagnosis says where the rest may be
    expect(d.drops).toEqual([]);
    expect(d.notSeen.join(' ')).toMatch(/no drop .* on the traced nodes \(node1, node2\).*a VPN/);
    expect(render(d)).toContain("node1: no SNAT: the endpoint answers the client's own address 192.168.10.10");
  });

  test('with the vpn traced too, its drop of the reply is in the story, retransmissions as one', () => {
    const d = judge('svc/mysql', before, false);
    expect(d.verdict).toBe('reply-bypasses-dnat');
    expect(d.drops).toEqual([
      {
        nodes: ['vpn'],
        netns: lab.hosts.vpn!.inode,
        reason: 'NETFILTER_DROP',
        location: expect.any(String),
        packet: 'tcp 10.244.2.2:3306 → 192.168.10.10:44600 SYN,ACK',
        direction: 'reply',
      },
    ]);
  });

  test('mysql with masqueradeAll: answered, SNAT on node1 to its own address', () => {
    const d = judge('svc/mysql', onNodes(withFix), true);
    expect(d.verdict).toBe('answered');
    expect(d.snat).toEqual({ node: 'node1', to: '10.0.1.11' });
    expect(d.summary).toBe('answered (DNAT on node1, SNAT ⇒ 10.0.1.11)');
  });

  test('nginx: answered, its pod on the DNAT node', () => {
    const d = judge('svc/nginx', onNodes(before), true);
    expect(d.verdict).toBe('answered');
    expect(d.dnat?.endpointNode).toBe('node1');
  });

  test('drops only (a kernel without function probes): the drop says where, and the DNAT is named as not traced', () => {
    // every "node" of the netns lab shares one kernel: each reports the vpn's drop
    const drops = before
      .filter((e) => e.kind === 'drop' && e.host === 'vpn')
      .flatMap((e) => [
        { ...e, host: 'node1' },
        { ...e, host: 'node2' },
      ]);
    const d = judge('svc/mysql', drops, false, ['drop']);
    expect(d.verdict).toBe('dropped');
    expect(d.drops).toHaveLength(1);
    expect(d.drops[0]).toMatchObject({ nodes: ['node1', 'node2'], netns: lab.hosts.vpn!.inode, direction: 'reply' });
    expect(d.notSeen).toContain('the DNAT: the nat probe was not running (--probes)');
    expect(d.summary).toMatch(
      /the reply was dropped \(NETFILTER_DROP at \w+\) in network namespace \d+, seen from node1, node2/,
    );
    // a request from another port (the request pod's, after the fix): the old connection's retransmitted
    // replies, still dropped, are not this connection's
    const resolved = resolveTarget(objects, options('svc/mysql'));
    const later = diagnose({
      ...resolved,
      clientPort: 45000,
      answered: true,
      events: drops,
      inCluster: clusterAddressTest(objects),
      nodes: ['node1', 'node2'],
      probes: ['drop'],
    });
    expect(later.verdict).toBe('answered');
    expect(later.drops).toEqual([]);
  });

  test('no answer and nothing seen: unexplained, and it says what was not seen', () => {
    const d = judge('svc/mysql', [], false, ['drop']);
    expect(d.verdict).toBe('no-answer-unexplained');
    expect(d.notSeen.length).toBe(2);
  });

  test('a watched client: seen with SNAT and no drop; or never seen', () => {
    const seen = judge('svc/mysql', onNodes(withFix), null, undefined, { fromIp: '192.168.10.10' });
    expect(seen.verdict).toBe('seen-no-fault');
    const other = judge('svc/mysql', onNodes(withFix), null, undefined, { fromIp: '192.168.10.99' });
    expect(other.verdict).toBe('not-seen');
    expect(other.summary).toContain('no traffic from 192.168.10.99 to 10.96.207.61:3306');
  });

  test('a client in the cluster is never bypassed: its replies come back through its own node', () => {
    const resolved = resolveTarget(objects, options('svc/mysql'));
    const d = diagnose({
      ...resolved,
      answered: false,
      events: onNodes(before),
      // the same events, had the client been a pod: its address the request pod reported
      inCluster: clusterAddressTest(objects, ['192.168.10.10']),
      nodes: ['node1', 'node2'],
      probes: ['nat', 'conntrack', 'drop'],
    });
    expect(d.verdict).toBe('no-answer-unexplained');
    const inCluster = clusterAddressTest(objects);
    // node addresses, pod addresses, and any address in a node's pod CIDR (a pod created since)
    expect(['10.0.1.11', '10.244.2.2', '10.244.1.77'].map(inCluster)).toEqual([true, true, true]);
    expect(['192.168.10.10', '10.244.3.1', '10.96.207.61'].map(inCluster)).toEqual([false, false, false]);
  });

  test('a Service, port or pod the cluster does not have is refused with what it has', () => {
    expect(() => judge('svc/redis', [], null)).toThrow(/the cluster has no Service default\/redis/);
    expect(() => judge('svc/mysql', [], null, undefined, { port: 80 })).toThrow(/has no TCP port 80/);
    expect(() => judge('svc/mysql', [], null, undefined, { fromPod: 'nope' })).toThrow(/no pod default\/nope/);
    expect(() => judge('mysql', [], null)).toThrow(/is not a Service \(svc\/NAME\)/);
    const fromPod = resolveTarget(objects, options('svc/mysql', { fromPod: 'nginx' }));
    expect(fromPod.clientIp).toBe('10.244.1.2');
  });
});
