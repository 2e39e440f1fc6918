import { describe, expect, test } from 'vitest';
import { parseNodes, parsePods, parseServices } from '../../../src/lab/kind/kubectl.js';
import { output } from './fakes.js';

describe('what kubectl -o json reports (Kubernetes API fields)', () => {
  test("nodes: InternalIP, the pod CIDR the controller manager gave each, natscope's role label", () => {
    const nodes = parseNodes(output('nodes.json'));
    expect(
      nodes.map((n) => [n.name, n.internalIP, n.podCIDR, n.labels['natscope.io/lab-node'] ?? '-', n.ready]),
    ).toEqual([
      ['natscope-control-plane', '172.18.0.2', '10.244.0.0/24', '-', true],
      ['natscope-worker', '172.18.0.3', '10.244.2.0/24', 'node1', true],
      ['natscope-worker2', '172.18.0.4', '10.244.1.0/24', 'node2', true],
    ]);
  });

  test('pods: IP, node and readiness; a pod being deleted is marked', () => {
    const pods = parsePods(output('pods.json'));
    expect(pods.map((p) => [p.name, p.node, p.ip, p.ready, p.terminating])).toEqual([
      ['mysql', 'natscope-worker2', '10.244.1.2', true, false],
      ['nginx', 'natscope-worker', '10.244.2.2', true, false],
    ]);
    const going = JSON.parse(output('pods.json'));
    going.items[0].metadata.deletionTimestamp = '2026-11-26T08:09:00Z';
    expect(parsePods(JSON.stringify(going))[0]!.terminating).toBe(true);
  });

  test('services: the ClusterIP and named ports', () => {
    expect(parseServices(output('services.json'))).toEqual([
      {
        namespace: 'default',
        name: 'mysql',
        clusterIP: '10.96.207.61',
        ports: [{ name: 'mysql', port: 3306, protocol: 'TCP' }],
      },
      {
        namespace: 'default',
        name: 'nginx',
        clusterIP: '10.96.48.29',
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      },
    ]);
  });

  test('an address or pod CIDR from the cluster that the strict parser refuses counts as missing, never reaches ip or iptables', () => {
    const nodes = JSON.parse(output('nodes.json'));
    nodes.items[1].status.addresses = [{ type: 'InternalIP', address: '172.018.0.3' }];
    nodes.items[2].spec.podCIDR = '10.244.1.0/24\nroute add default via 1.2.3.4';
    const parsed = parseNodes(JSON.stringify(nodes));
    expect(parsed.map((n) => [n.internalIP, n.podCIDR])).toEqual([
      ['172.18.0.2', '10.244.0.0/24'],
      ['', '10.244.2.0/24'],
      ['172.18.0.4', ''],
    ]);
    const pods = JSON.parse(output('pods.json'));
    pods.items[0].status.podIP = '10.244.1.02';
    expect(parsePods(JSON.stringify(pods))[0]!.ip).toBe('');
    const services = JSON.parse(output('services.json'));
    services.items[0].spec.clusterIP = 'None';
    expect(parseServices(JSON.stringify(services))[0]!.clusterIP).toBe('');
  });
});
