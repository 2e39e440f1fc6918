import { describe, expect, test } from 'vitest';
import { sandboxNetnsPath, sandboxOf } from '../../../src/lab/kind/attribution.js';
import { output } from './fakes.js';

describe("a pod's network namespace inside a kind node (crictl, containerd's CRI info)", () => {
  test("the running sandbox is found by the pod's Kubernetes UID", () => {
    const pods = output('crictl-pods-natscope-worker2.json');
    expect(sandboxOf(pods, '7e1c2d3f-8a9b-4c0d-9e1f-2a3b4c5d6e7f')).toBe(
      'e4c3b8d6f5a27b0c1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c',
    );
    expect(sandboxOf(pods, 'another-uid')).toBeNull();
    const notReady = JSON.parse(pods);
    notReady.items[0].state = 'SANDBOX_NOTREADY';
    expect(sandboxOf(JSON.stringify(notReady), '7e1c2d3f-8a9b-4c0d-9e1f-2a3b4c5d6e7f')).toBeNull();
  });

  test("the sandbox's netns is its /var/run/netns bind mount, else its process's /proc/PID/ns/net", () => {
    const inspect = output('crictl-inspectp.json').replaceAll('@NETNS@', 'mysql');
    expect(sandboxNetnsPath(inspect)).toBe('/var/run/netns/cni-mysql');
    const noPath = JSON.parse(inspect);
    noPath.info.runtimeSpec.linux.namespaces = noPath.info.runtimeSpec.linux.namespaces.filter(
      (n: { type: string }) => n.type !== 'network',
    );
    expect(sandboxNetnsPath(JSON.stringify(noPath))).toBe('/proc/1873/ns/net');
  });
});
