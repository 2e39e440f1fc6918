import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Kubectl } from '../../src/cluster/kubectl.js';
import { ClusterNames, namesSuffix } from '../../src/cluster/names.js';
import { decodeEvent, encodeEvent } from '../../src/events/codec.js';
import { formatEvent } from '../../src/events/format.js';
import { capturedKernelEvents, tempDirForTest } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';

async function labNames(): Promise<ClusterNames> {
  const fake = fakeCluster(tempDirForTest('natscope-names-'), labObjects(recordedLabStatus()));
  process.env.FAKE_KUBECTL_DIR = fake.dir;
  const kubectl = new Kubectl({ binary: join(fake.bin, 'kubectl') });
  const [nodes, pods, services, endpointSlices] = await Promise.all([
    kubectl.nodes(),
    kubectl.pods(),
    kubectl.services(),
    kubectl.endpointSlices(),
  ]);
  return ClusterNames.from({ nodes, pods, services, endpointSlices });
}

describe("names from the cluster's API objects", () => {
  test('a ClusterIP and port is its Service, a pod IP its pod, a node address its node', async () => {
    const names = await labNames();
    expect(names.nameOf('10.96.207.61', 3306)).toBe('default/mysql');
    expect(names.nameOf('10.244.2.2', 3306)).toBe('default/mysql');
    expect(names.nameOf('10.244.1.2')).toBe('default/nginx');
    expect(names.nameOf('10.0.1.12')).toBe('node2');
    expect(names.nameOf('192.168.10.10')).toBeUndefined();
  });

  test("the lab's real DNAT to mysql carries the Service and the pod by name, and still decodes as an event", async () => {
    const names = await labNames();
    const dnat = capturedKernelEvents().find(
      (e) => e.kind === 'nat' && e.manip === 'DNAT' && e.orig.dst === '10.96.207.61',
    );
    expect(dnat).toBeDefined();
    const named = names.name(dnat!);
    expect(named.names).toMatchObject({ '10.96.207.61:3306': 'default/mysql', '10.244.2.2': 'default/mysql' });
    expect(decodeEvent(encodeEvent(named), 1)).toEqual(named);
    expect(formatEvent(named, named.t) + namesSuffix(named)).toMatch(
      /DNAT tcp .*10\.96\.207\.61:3306.*\[.*10\.96\.207\.61:3306 default\/mysql.*\]$/,
    );
  });

  test('a recording whose names field holds an escape sequence is refused on decoding', async () => {
    const names = await labNames();
    const event = names.name(capturedKernelEvents().find((e) => e.kind === 'nat')!);
    const forged = encodeEvent(event).replace(/"names":\{/, '"names":{"10.0.0.1":"evil\\u001b[2J",');
    expect(() => decodeEvent(forged, 1)).toThrow(/names/);
  });
});
