// The request pod of cluster diagnose: its kubectl arguments, its one line
// of output, and the whole request through the fake kubectl, whose `run`
// executes the pod's fixed busybox command here: to a listening and to a
// closed port on this machine's loopback (the only traffic a unit test sends).

import { createServer, type Server } from 'node:net';
import { describe, expect, test } from 'vitest';
import {
  CLIENT_SCRIPT,
  clientPodArgs,
  parseClientAddresses,
  parseClientOutput,
  requestFromPod,
} from '../../src/cluster/clientPod.js';
import { Kubectl } from '../../src/cluster/kubectl.js';
import { tempDirForTest } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';
import { join } from 'node:path';

function listen(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.end('hello\n'));
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

describe('the request pod', { timeout: 30_000 }, () => {
  test("its arguments: labelled as natscope's with an expiry, the command fixed, address and port as arguments", () => {
    const args = clientPodArgs({
      name: 'natscope-client-ab12',
      namespace: 'natscope',
      image: 'busybox:1.36',
      owner: 'ab12',
      ip: '10.96.0.10',
      port: 3306,
      expires: new Date('2026-12-05T10:00:00Z'),
    });
    expect(args.slice(0, 4)).toEqual(['run', 'natscope-client-ab12', '-n', 'natscope']);
    expect(args).toContain('--rm');
    expect(args).toContain('--labels=app.kubernetes.io/managed-by=natscope,natscope.io/owner=ab12');
    const overrides = JSON.parse(args.find((a) => a.startsWith('--overrides='))!.slice('--overrides='.length));
    expect(overrides.metadata.annotations['natscope.io/expires']).toBe('2026-12-05T10:00:00.000Z');
    expect(args.slice(args.indexOf('--'))).toEqual([
      '--',
      'busybox',
      'sh',
      '-c',
      CLIENT_SCRIPT,
      'natscope-client',
      '10.96.0.10',
      '3306',
    ]);
  });

  test('its output: the status line, or nothing if the command never ran', () => {
    expect(parseClientOutput('natscope-client:0\n')).toBe(0);
    expect(parseClientOutput("If you don't see a command prompt…\nnatscope-client:1\n")).toBe(1);
    expect(parseClientOutput('error: image pull')).toBeNull();
    expect(parseClientAddresses('natscope-client-ip:10.244.1.7\nnatscope-client-ip:$(x)\nnatscope-client:0\n')).toEqual(
      ['10.244.1.7'],
    );
  });

  test('a listening port answers, a closed one does not; the pod is created and deleted either way', async () => {
    const dir = tempDirForTest('natscope-client-pod-');
    const fake = fakeCluster(dir, labObjects(recordedLabStatus()));
    const kubectl = new Kubectl({ binary: join(fake.bin, 'kubectl') });
    process.env.FAKE_KUBECTL_DIR = fake.dir;
    const { server, port } = await listen();
    try {
      const open = await requestFromPod(kubectl, {
        namespace: 'default',
        image: 'busybox:1.36',
        ip: '127.0.0.1',
        port,
      });
      expect(open.answered).toBe(true);
      // the "pod" is this machine here: its addresses, as busybox ip lists them
      expect(open.addresses.length).toBeGreaterThan(0);
      expect(open.endNs).toBeGreaterThan(open.startNs);
    } finally {
      server.close();
    }
    // the same port, nobody listening now
    const closed = await requestFromPod(kubectl, {
      namespace: 'default',
      image: 'busybox:1.36',
      ip: '127.0.0.1',
      port,
    });
    expect(closed).toMatchObject({ answered: false, status: 1 });
    const ledger = fake.ledger();
    expect(ledger.filter((l) => l.startsWith('create default/natscope-client-'))).toHaveLength(2);
    expect(ledger.filter((l) => l.startsWith('delete default/natscope-client-'))).toHaveLength(2);
    expect(fake.livePods()).toEqual([]);
  });
});
