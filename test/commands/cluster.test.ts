// natscope cluster trace as a user runs it, against the fake kubectl
// (test/fixtures/bin/fake-kubectl) serving the incident lab's objects, with
// the fake bpftrace where kubectl exec would run the real one: what it
// prints, and that what it creates is deleted on every way out (an
// interrupt, an error, and kill -9 followed by the next run's sweep).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeEvent } from '../../src/events/codec.js';
import { isKernelEvent } from '../../src/events/types.js';
import { isAlive } from '../../src/util/process.js';
import { natscope } from '../cli.js';
import { fakeCluster, labObjects, recordedLabStatus } from '../cluster/fakeCluster.js';
import { FIXTURES, tempDirForTest } from '../helpers.js';

const FAKE_BPFTRACE = join(FIXTURES, 'bin', 'fake-bpftrace');

function setUp() {
  const dir = tempDirForTest('natscope-cluster-cli-');
  const fake = fakeCluster(dir, labObjects(recordedLabStatus()), FAKE_BPFTRACE);
  const env = {
    ...fake.env,
    FAKE_BPFTRACE_MODE: 'ok',
    FAKE_BPFTRACE_OUTPUT: join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl'),
    FAKE_BPFTRACE_LOG: join(dir, 'bpftrace.log'),
  };
  return { fake, dir, env };
}

// Waits for what the test looks for; on a busy machine starting the node pods takes a while,
// and a wait that runs out says what was seen rather than failing further on.
async function until(cond: () => boolean, ms = 60_000, seen: () => string = () => '') {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (!cond()) throw new Error(`waited ${ms / 1000} s in vain; seen: ${seen()}`);
}

// every pod created was deleted, each once
function balanced(ledger: string[]): boolean {
  const created = ledger.filter((l) => l.startsWith('create ')).map((l) => l.slice(7));
  const deleted = ledger.filter((l) => l.startsWith('delete ')).map((l) => l.slice(7));
  return created.length > 0 && [...created].sort().join() === [...deleted].sort().join();
}

describe('natscope cluster trace', { timeout: 120_000 }, () => {
  test("streams both nodes' events as JSON Lines with node names and Kubernetes names, then deletes its pods", async () => {
    const { fake, env } = setUp();
    const result = await natscope(
      ['cluster', 'trace', '--nodes', 'node1,node2', '--probes', 'drop', '--duration', '3', '--json'],
      { env },
    );
    expect(result.stderr).toMatch(/tracing drop on node1 \(bpftrace 0\.17\.0\), node2 \(bpftrace 0\.17\.0\)/);
    expect(result.stderr).toMatch(/clocks, onto this machine's: node1: [+-][\d.]+ ms, ±[\d.]+ ms read/);
    expect(result.exitCode).toBe(0);
    const events = String(result.stdout)
      .split('\n')
      .filter(Boolean)
      .map((l, i) => decodeEvent(l, i + 1));
    const kernel = events.filter(isKernelEvent);
    expect(new Set(kernel.map((e) => e.host))).toEqual(new Set(['node1', 'node2']));
    // the capture's mysql drops, named: the ClusterIP's Service, the pod behind it
    const named = kernel.filter((e) => e.names !== undefined);
    expect(named.length).toBeGreaterThan(0);
    expect(named.flatMap((e) => Object.values(e.names ?? {}))).toContain('default/mysql');
    expect(balanced(fake.ledger())).toBe(true);
    expect(fake.livePods()).toEqual([]);
  });

  test('a node that is not in the cluster: one line, its fix, exit 2, nothing created', async () => {
    const { fake, env } = setUp();
    const result = await natscope(['cluster', 'trace', '--nodes', 'node1,nope', '--duration', '1'], { env });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('natscope: the cluster has no node named "nope"');
    expect(result.stderr).toMatch(/\n {2}fix: its nodes: node1, node2/);
    expect(fake.ledger()).toEqual([]);
  });

  test('bad names and images are refused before kubectl is asked anything', async () => {
    const { fake, env } = setUp();
    for (const args of [
      ['--namespace', 'Not_A_Namespace'],
      ['--image', 'evil image; rm -rf /'],
      ['--nodes', 'node1,NODE\x1b[2J'],
      ['--context', 'prod\x07'],
      ['--duration', '600', '--ttl', '60'],
    ]) {
      const result = await natscope(['cluster', 'trace', ...args], { env });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/^natscope: .*\n {2}fix: /m);
      expect(String(result.stderr).includes('\x1b')).toBe(false);
    }
    expect(fake.calls()).toEqual([]);
  });

  test('a refused request (RBAC) is one line naming the permissions file, and nothing is left', async () => {
    const { fake, env } = setUp();
    const result = await natscope(['cluster', 'trace', '--duration', '1'], {
      env: { ...env, FAKE_KUBECTL_FAIL: 'apply' },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/natscope: kubectl apply \(node pods\) was refused: .*forbidden/i);
    expect(result.stderr).toContain('deploy/cluster/rbac.yaml');
    expect(fake.livePods()).toEqual([]);
  });

  test('Ctrl-C stops bpftrace on every node and deletes the node pods before natscope exits', async () => {
    const { fake, dir, env } = setUp();
    const run = natscope(['cluster', 'trace', '--nodes', 'node1,node2', '--probes', 'drop'], { env });
    let stderr = '';
    run.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await until(
      () => stderr.includes('tracing drop on'),
      60_000,
      () => stderr,
    );
    expect(fake.livePods()).toHaveLength(2);
    const bpftracePid = Number(readFileSync(join(dir, 'bpftrace.log.pid'), 'utf8'));
    run.kill('SIGINT');
    const result = await run;
    expect(result.exitCode).toBe(130);
    expect(fake.livePods()).toEqual([]);
    expect(balanced(fake.ledger())).toBe(true);
    expect(isAlive(bpftracePid)).toBe(false);
  });

  test('after kill -9 the pods stay until their expiry, and the next run deletes them', async () => {
    const { fake, dir, env } = setUp();
    const run = natscope(['cluster', 'trace', '--nodes', 'node1,node2', '--probes', 'drop', '--ttl', '3'], { env });
    let stderr = '';
    run.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await until(
      () => stderr.includes('tracing drop on'),
      60_000,
      () => stderr,
    );
    const bpftracePid = Number(readFileSync(join(dir, 'bpftrace.log.pid'), 'utf8'));
    run.kill('SIGKILL');
    await run;
    const left = fake.livePods().map((p) => p.metadata.name);
    expect(left).toHaveLength(2);
    // bpftrace on the node stops once the exec stream from natscope is gone
    await until(() => !isAlive(bpftracePid), 10_000);
    expect(isAlive(bpftracePid)).toBe(false);
    // past the expiry, the next run sweeps them
    await new Promise((r) => setTimeout(r, 3500));
    const next = await natscope(['cluster', 'trace', '--nodes', 'node1', '--probes', 'drop', '--duration', '1'], {
      env,
    });
    expect(next.exitCode).toBe(0);
    expect(next.stderr).toContain(`deleted 2 expired natscope pod(s) a killed run left: ${left.join(', ')}`);
    expect(fake.livePods()).toEqual([]);
    expect(balanced(fake.ledger())).toBe(true);
  });
});
