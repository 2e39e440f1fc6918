import { describe, expect, test } from 'vitest';
import { parseContainers, parseNetworks } from '../../../src/lab/kind/docker.js';
import { dockerUnreachable } from '../../../src/lab/kind/tools.js';
import { output } from './fakes.js';

describe("what docker inspect reports (captured from Docker 20.10 with the lab's own commands)", () => {
  test('containers: PID for nsenter and the netns inode, labels, one address per network', () => {
    const [office, vpn, node] = parseContainers(output('docker-container-inspect.json'));
    expect(office).toMatchObject({
      name: 'natscope-office',
      running: true,
      labels: { 'io.natscope.lab': 'natscope' },
      networks: { 'natscope-office': '192.168.10.10' },
    });
    expect(vpn!.networks).toEqual({
      kind: expect.stringMatching(/^172\.18\.0\.\d+$/),
      'natscope-office': '192.168.10.1',
    });
    expect(node!.labels['io.x-k8s.kind.cluster']).toBe('natscope');
    for (const c of [office, vpn, node]) {
      expect(c!.pid).toBeGreaterThan(0);
      expect(c!.id).toMatch(/^[0-9a-f]{64}$/);
      expect(Date.parse(c!.created)).not.toBeNaN();
    }
  });

  test('networks: IPv4 subnets, options and labels; the office network has masquerading off', () => {
    const nets = parseNetworks(output('docker-network-inspect.json'));
    const office = nets.find((n) => n.name === 'natscope-office')!;
    expect(office.subnets).toEqual(['192.168.10.0/24']);
    expect(office.options['com.docker.network.bridge.enable_ip_masquerade']).toBe('false');
    expect(office.labels['io.natscope.lab']).toBe('natscope');
    expect(nets.find((n) => n.name === 'host')!.subnets).toEqual([]);
  });

  test("the Docker CLI's words for a stopped daemon become one line with the fix", () => {
    const down = dockerUnreachable(
      'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
    );
    expect(down?.message).toBe('Docker is not running (the Docker daemon cannot be reached)');
    expect(down?.hint).toMatch(/systemctl start docker/);
    expect(
      dockerUnreachable(
        'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock',
      )?.hint,
    ).toMatch(/sudo|docker group/);
    expect(dockerUnreachable('Error response from daemon: No such container: x')).toBeNull();
  });
});
