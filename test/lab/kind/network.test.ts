import { describe, expect, test } from 'vitest';
import { parseCidr } from '../../../src/events/tuple.js';
import { parseNetworks } from '../../../src/lab/kind/docker.js';
import { kindNames, officePlan } from '../../../src/lab/kind/names.js';
import { deviceWith, nodeRoutes, officeCollision, officeRoutes, vpnRoutes } from '../../../src/lab/kind/network.js';
import type { KindTopology } from '../../../src/lab/kind/topology.js';
import { output } from './fakes.js';

const names = kindNames('natscope-');
const plan = officePlan('192.168.10.0/24');
const networks = parseNetworks(output('docker-network-inspect.json'));

describe("the office network and the incident's routes", () => {
  test("the lab's own office network and Docker bridges on this host are no collision", () => {
    expect(
      officeCollision(plan, names, networks, [
        parseCidr('172.18.0.0/16')!,
        parseCidr('192.168.10.0/24')!,
        parseCidr('10.0.2.0/24')!,
      ]),
    ).toBeNull();
  });

  test('an office CIDR inside another Docker network, the pod or Service subnet, or a host network collides', () => {
    const corp = [...networks, { id: 'x', name: 'corp', subnets: ['192.168.0.0/16'], labels: {}, options: {} }];
    expect(officeCollision(plan, names, corp, [])).toBe('Docker network "corp" (192.168.0.0/16)');
    expect(officeCollision(officePlan('10.244.5.0/24'), names, [], [])).toBe("the cluster's pod subnet 10.244.0.0/16");
    expect(officeCollision(officePlan('10.96.0.0/24'), names, [], [])).toMatch(/Service subnet/);
    expect(officeCollision(plan, names, [], [parseCidr('192.168.10.0/24')!])).toBe(
      "this host's network 192.168.10.0/24",
    );
    const foreignOffice = networks.map((n) => (n.name === 'natscope-office' ? { ...n, labels: {} } : n));
    expect(officeCollision(plan, names, foreignOffice, [])).toMatch(/natscope-office/);
  });

  const t = {
    plan,
    nodes: [
      {
        role: 'control-plane',
        container: 'natscope-control-plane',
        ip: '172.18.0.2',
        podCIDR: '10.244.0.0/24',
        pid: 1,
      },
      { role: 'node1', container: 'natscope-worker', ip: '172.18.0.3', podCIDR: '10.244.2.0/24', pid: 2 },
      { role: 'node2', container: 'natscope-worker2', ip: '172.18.0.4', podCIDR: '10.244.1.0/24', pid: 3 },
    ],
    vpn: { pid: 4, ip: '172.18.0.5', officeIp: '192.168.10.1' },
  } as unknown as KindTopology;

  test('the vpn routes the whole Service CIDR to node1 only, and each pod CIDR to its node', () => {
    expect(vpnRoutes(t)).toEqual([
      'route replace 10.96.0.0/16 via 172.18.0.3',
      'route replace 10.244.0.0/24 via 172.18.0.2',
      'route replace 10.244.2.0/24 via 172.18.0.3',
      'route replace 10.244.1.0/24 via 172.18.0.4',
    ]);
  });

  test('every node routes the office to the vpn; the office routes everything to the vpn', () => {
    expect(nodeRoutes(t)).toEqual(['route replace 192.168.10.0/24 via 172.18.0.5']);
    expect(officeRoutes(t, 'eth0')).toEqual([
      'route replace default via 192.168.10.1',
      'addr replace 192.168.10.20/24 dev eth0',
      'addr replace 192.168.10.21/24 dev eth0',
      'addr replace 192.168.10.22/24 dev eth0',
      'addr replace 192.168.10.23/24 dev eth0',
    ]);
  });

  test("the office's interface is found by its address in `ip -o -4 addr show`", () => {
    expect(deviceWith(output('office-ip-addr.txt'), '192.168.10.10')).toBe('eth0');
    expect(deviceWith(output('office-ip-addr.txt'), '192.168.10.99')).toBeNull();
  });
});
