import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { Kubectl } from '../../src/cluster/kubectl.js';
import { createNodePods, sweepExpired } from '../../src/cluster/nodePods.js';
import { asNatscopeError, tempDirForTest } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';

function cluster() {
  const fake = fakeCluster(tempDirForTest('natscope-nodepods-'), labObjects(recordedLabStatus()));
  process.env.FAKE_KUBECTL_DIR = fake.dir;
  return { fake, kubectl: new Kubectl({ binary: join(fake.bin, 'kubectl') }) };
}

describe('the node pods', () => {
  test('one privileged pod per node, pinned to it, labelled with the run, expiring, deleted by remove()', async () => {
    const { fake, kubectl } = cluster();
    const now = new Date('2026-12-05T10:00:00Z');
    const lines: string[] = [];
    const run = await createNodePods(kubectl, {
      nodes: ['node1', 'node2'],
      namespace: 'default',
      image: 'quay.io/iovisor/bpftrace:v0.17.0',
      ttlS: 600,
      now: () => now,
      log: (l) => lines.push(l),
    });
    expect(run.owner).toMatch(/^[0-9a-f]{10}$/);
    expect(run.pods.map((p) => [p.node, p.name])).toEqual([
      ['node1', `natscope-${run.owner}-0`],
      ['node2', `natscope-${run.owner}-1`],
    ]);
    const live = fake.livePods();
    expect(live).toHaveLength(2);
    const pod = live[0] as unknown as {
      metadata: { labels: object; annotations: object };
      spec: Record<string, unknown> & { containers: Record<string, unknown>[]; volumes: unknown[] };
    };
    expect(pod.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'natscope', 'natscope.io/owner': run.owner });
    expect(pod.metadata.annotations).toEqual({
      'natscope.io/expires': '2026-12-05T10:10:00.000Z',
      'natscope.io/node': 'node1',
    });
    expect(pod.spec).toMatchObject({
      nodeName: 'node1',
      hostNetwork: true,
      hostPID: true,
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      activeDeadlineSeconds: 600,
    });
    expect(pod.spec.tolerations).toContainEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' });
    const container = pod.spec.containers[0]!;
    expect(container).toMatchObject({
      image: 'quay.io/iovisor/bpftrace:v0.17.0',
      securityContext: { privileged: true },
    });
    expect(container.volumeMounts).toEqual(
      ['/sys/kernel/debug', '/sys/kernel/tracing', '/sys/kernel/btf', '/lib/modules'].map((mountPath) => ({
        name: expect.any(String),
        mountPath,
        readOnly: true,
      })),
    );
    // created in one apply, the manifest on stdin
    expect(fake.calls().filter((c) => c[0] === 'apply')).toEqual([['apply', '-f', '-']]);
    expect(lines.join('\n')).toContain('creating 2 node pod(s)');

    await run.remove();
    await run.remove();
    expect(fake.livePods()).toEqual([]);
    expect(fake.ledger()).toEqual([
      `create default/natscope-${run.owner}-0`,
      `create default/natscope-${run.owner}-1`,
      `delete default/natscope-${run.owner}-0`,
      `delete default/natscope-${run.owner}-1`,
    ]);
  });

  test('a pod that never gets ready: one line naming it and the fix, and nothing left', async () => {
    const { fake, kubectl } = cluster();
    process.env.FAKE_KUBECTL_POD_STATE = 'pending';
    try {
      const error = await createNodePods(kubectl, {
        nodes: ['node2'],
        namespace: 'default',
        image: 'example.invalid/none:1',
        ttlS: 60,
        readyTimeoutMs: 1500,
      }).catch((e: unknown) => e);
      const { message, hint } = asNatscopeError(error);
      expect(message).toMatch(
        /^node pod default\/natscope-[0-9a-f]{10}-0 on node node2 was not ready after 2 s \(ImagePullBackOff\)$/,
      );
      expect(hint).toMatch(/cannot pull the image: see kubectl -n default describe pod natscope-.*--image/);
      expect(fake.livePods()).toEqual([]);
      expect(fake.ledger().map((l) => l.split(' ')[0])).toEqual(['create', 'delete']);
    } finally {
      delete process.env.FAKE_KUBECTL_POD_STATE;
    }
  });

  test('the sweep deletes natscope pods whose expiry passed, and only those', async () => {
    const { fake, kubectl } = cluster();
    const old = await createNodePods(kubectl, {
      nodes: ['node1'],
      namespace: 'default',
      image: 'i',
      ttlS: 60,
      now: () => new Date(Date.now() - 3_600_000),
    });
    const current = await createNodePods(kubectl, { nodes: ['node2'], namespace: 'default', image: 'i', ttlS: 600 });
    const swept = await sweepExpired(kubectl, 'default');
    expect(swept).toEqual([`natscope-${old.owner}-0`]);
    expect(fake.livePods().map((p) => p.metadata.name)).toEqual([`natscope-${current.owner}-0`]);
    // the lab's own pods are not natscope's: never listed for deletion
    expect(fake.calls().find((c) => c[0] === 'delete')).toEqual([
      'delete',
      'pods',
      '-n',
      'default',
      '--ignore-not-found',
      '--wait=false',
      `natscope-${old.owner}-0`,
    ]);
    await old.remove();
    await current.remove();
  });
});
