import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkContext, Kubectl, parseList, PodSchema } from '../../src/cluster/kubectl.js';
import { NatscopeError } from '../../src/errors.js';
import { asNatscopeError, tempDirForTest } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';

function cluster() {
  const fake = fakeCluster(tempDirForTest('natscope-kubectl-'), labObjects(recordedLabStatus()));
  process.env.FAKE_KUBECTL_DIR = fake.dir;
  return fake;
}

describe('kubectl, as natscope runs it', () => {
  test('reads nodes, pods, Services and EndpointSlices in every namespace from their JSON lists', async () => {
    const fake = cluster();
    const kubectl = new Kubectl({ binary: join(fake.bin, 'kubectl') });
    const nodes = await kubectl.nodes();
    expect(nodes.map((n) => n.metadata.name)).toEqual(['node1', 'node2']);
    expect(nodes[0]!.status.addresses).toContainEqual({ type: 'InternalIP', address: '10.0.1.11' });
    const pods = await kubectl.pods();
    expect(pods.map((p) => [p.metadata.namespace, p.metadata.name, p.spec.nodeName, p.status.podIP])).toEqual([
      ['default', 'nginx', 'node1', '10.244.1.2'],
      ['default', 'mysql', 'node2', '10.244.2.2'],
    ]);
    const services = await kubectl.services();
    expect(services.find((s) => s.metadata.name === 'mysql')!.spec).toMatchObject({
      clusterIP: '10.96.207.61',
      ports: [{ name: 'mysql', port: 3306, protocol: 'TCP' }],
    });
    const slices = await kubectl.endpointSlices();
    expect(slices.find((s) => s.metadata.name.startsWith('mysql'))!.endpoints![0]).toMatchObject({
      addresses: ['10.244.2.2'],
      nodeName: 'node2',
      targetRef: { kind: 'Pod', name: 'mysql', namespace: 'default' },
    });
    expect(fake.calls()).toEqual([
      ['get', 'nodes', '-o', 'json'],
      ['get', 'pods', '-A', '-o', 'json'],
      ['get', 'services', '-A', '-o', 'json'],
      ['get', 'endpointslices', '-A', '-o', 'json'],
    ]);
  });

  test('passes the context as one --context=NAME argument, so a name starting with "-" stays a name', async () => {
    const fake = cluster();
    const kubectl = new Kubectl({ binary: join(fake.bin, 'kubectl'), context: '--kubeconfig=/etc/x' });
    await kubectl.nodes();
    expect(fake.calls()[0]).toEqual(['--context=--kubeconfig=/etc/x', 'get', 'nodes', '-o', 'json']);
  });

  test('refuses a context name with control characters, with its fix', () => {
    expect(() => checkContext('prod\x1b[2J')).toThrow(NatscopeError);
    expect(() => checkContext('')).toThrow(/not a kubeconfig context name/);
    expect(checkContext('kind-natscope')).toBe('kind-natscope');
  });

  test('a refused request names the permissions file', async () => {
    const fake = cluster();
    process.env.FAKE_KUBECTL_FAIL = 'get';
    try {
      const kubectl = new Kubectl({ binary: join(fake.bin, 'kubectl') });
      const error = asNatscopeError(await kubectl.nodes().catch((e: unknown) => e));
      expect(error.message).toMatch(/^kubectl get nodes was refused: .*forbidden/);
      expect(error.hint).toContain('deploy/cluster/rbac.yaml');
    } finally {
      delete process.env.FAKE_KUBECTL_FAIL;
    }
  });

  test('a missing kubectl is one line and its fix', async () => {
    const kubectl = new Kubectl({ binary: '/nonexistent/kubectl' });
    await expect(kubectl.nodes()).rejects.toThrow(/kubectl not found/);
  });
});

describe('the API objects natscope accepts', () => {
  const list = (item: unknown) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [item] });
  const pod = (name: string, podIP = '10.244.1.2') => ({
    metadata: { name, namespace: 'default' },
    spec: { nodeName: 'node1' },
    status: { podIP },
  });

  test('a pod whose name carries an escape sequence is refused, and the refusal is safe to print', () => {
    const error = (() => {
      try {
        parseList('pods', PodSchema, list(pod('evil\x1b]0;owned\x07')));
      } catch (e) {
        return e;
      }
    })();
    const { message } = asNatscopeError(error);
    expect(message).toContain('items[0].metadata.name');
    expect(message.includes('\x1b')).toBe(false);
  });

  test('an address that is not one is refused', () => {
    expect(() => parseList('pods', PodSchema, list(pod('web', '10.0.0.1; rm -rf /')))).toThrow(/status\.podIP/);
  });

  test('text that is not JSON is refused with a fix', () => {
    expect(() => parseList('pods', PodSchema, 'error: You must be logged in')).toThrow(/did not print JSON/);
  });
});
