import { describe, expect, test } from 'vitest';
import { parseContainers } from '../../../src/lab/kind/docker.js';
import { parseNodes, parsePods, parseServices } from '../../../src/lab/kind/kubectl.js';
import { kindNames, officePlan } from '../../../src/lab/kind/names.js';
import { assembleTopology, kindLabStatus, labNodeName } from '../../../src/lab/kind/topology.js';
import { output } from './fakes.js';

const names = kindNames('natscope-');
const plan = officePlan('192.168.10.0/24');

function topology() {
  const [office, vpn, worker] = parseContainers(output('docker-container-inspect.json'));
  const nodes = ['natscope-control-plane', 'natscope-worker', 'natscope-worker2'].map((name, i) => ({
    ...worker!,
    name,
    pid: 100 + i,
  }));
  return assembleTopology(
    names,
    plan,
    parseNodes(output('nodes.json')),
    [...nodes, office!, vpn!],
    parsePods(output('pods.json')),
    parseServices(output('services.json')),
  );
}

describe('who is who in the kind lab', () => {
  test("node1 and node2 come from the workers' labels, not from their names or join order", () => {
    const t = topology();
    expect(t.nodes.map((n) => [n.role, n.container, n.ip, n.podCIDR])).toEqual([
      ['control-plane', 'natscope-control-plane', '172.18.0.2', '10.244.0.0/24'],
      ['node1', 'natscope-worker', '172.18.0.3', '10.244.2.0/24'],
      ['node2', 'natscope-worker2', '172.18.0.4', '10.244.1.0/24'],
    ]);
    expect(t.kindNetwork).toBe('kind');
    expect(t.pods.map((p) => [p.name, p.role, p.ip, p.port])).toEqual([
      ['nginx', 'node1', '10.244.2.2', 80],
      ['mysql', 'node2', '10.244.1.2', 3306],
    ]);
    expect(labNodeName(t, 'natscope-worker2')).toBe('node2');
  });

  test("a cluster whose workers lack natscope's labels is refused with the fix", () => {
    const nodes = parseNodes(output('nodes.json')).map((n) => ({ ...n, labels: {} }));
    expect(() => assembleTopology(names, plan, nodes, [], [], [])).toThrow(/not made from natscope's kind config/);
  });

  test("the status has the netns lab's shape: hosts, pods on node1/node2, Services with their endpoints", () => {
    const status = kindLabStatus(
      topology(),
      { mode: 'iptables', masqueradeAll: false, clusterCIDR: null },
      { node1: 4026532001 },
      true,
    );
    expect(status).toMatchObject({
      backend: 'kind',
      prefix: 'natscope-',
      up: true,
      serviceCIDR: '10.96.0.0/16',
      officeCIDR: '192.168.10.0/24',
      kubeProxy: { mode: 'iptables', masqueradeAll: false, clusterCIDR: null },
    });
    expect(Object.keys(status.hosts)).toEqual(['office', 'vpn', 'node1', 'node2']);
    expect(status.hosts.node1).toEqual({ netns: 'container natscope-worker', ip: '172.18.0.3', inode: 4026532001 });
    expect(status.hosts.office!.ip).toBe('192.168.10.10');
    expect(status.services).toEqual([
      {
        namespace: 'default',
        name: 'nginx',
        portName: 'http',
        protocol: 'TCP',
        port: 80,
        clusterIP: '10.96.48.29',
        endpoints: [{ ip: '10.244.2.2', port: 80, node: 'node1' }],
      },
      {
        namespace: 'default',
        name: 'mysql',
        portName: 'mysql',
        protocol: 'TCP',
        port: 3306,
        clusterIP: '10.96.207.61',
        endpoints: [{ ip: '10.244.1.2', port: 3306, node: 'node2' }],
      },
    ]);
  });
});
