// natscope cluster diagnose as a user runs it, against the fake kubectl
// serving the incident lab's objects, with the fake bpftrace (a real
// capture of the lab) where kubectl exec would run the real one: watching
// an office client's traffic, the verdict as JSON, bad input refused before
// anything is created, and every pod deleted.

import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DiagnosisSchema } from '../../src/cluster/diagnose.js';
import { jsonOutput, natscope } from '../cli.js';
import { fakeCluster, labObjects, recordedLabStatus } from '../cluster/fakeCluster.js';
import { FIXTURES, tempDirForTest } from '../helpers.js';

function setUp() {
  const dir = tempDirForTest('natscope-cluster-diagnose-');
  const fake = fakeCluster(dir, labObjects(recordedLabStatus()), join(FIXTURES, 'bin', 'fake-bpftrace'));
  const env = {
    ...fake.env,
    FAKE_BPFTRACE_MODE: 'ok',
    FAKE_BPFTRACE_OUTPUT: join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl'),
  };
  return { fake, env };
}

describe('natscope cluster diagnose', { timeout: 90_000 }, () => {
  test("watching the office's traffic to mysql: the reply's drop, where and by whom it was seen, as JSON; exit 1", async () => {
    const { fake, env } = setUp();
    const result = await natscope(
      ['cluster', 'diagnose', 'svc/mysql', '--from-ip', '192.168.10.10', '--probes', 'drop', '--wait', '30', '--json'],
      { env },
    );
    expect(result.stderr).toMatch(/waiting up to 30 s for 192\.168\.10\.10's traffic to 10\.96\.207\.61:3306/);
    expect(result.exitCode, String(result.stderr)).toBe(1);
    const d = jsonOutput(DiagnosisSchema, result.stdout);
    expect(d.service).toBe('default/mysql');
    expect(d.target).toBe('10.96.207.61:3306');
    // the capture holds the DNAT too, reported by both "nodes" (one kernel): which one's report comes
    // first decides whether the endpoint (on node2) is on another node than the DNAT
    if (d.dnat === null) expect(d.verdict).toBe('dropped');
    else expect(d.verdict).toBe(d.dnat.node === 'node1' ? 'reply-bypasses-dnat' : 'dropped');
    expect(d.drops[0]).toMatchObject({ direction: 'reply', nodes: ['node1', 'node2'] });
    expect(d.drops[0]!.packet).toMatch(/^tcp 10\.244\.2\.2:3306 → 192\.168\.10\.10:\d+ SYN,ACK$/);
    expect(fake.livePods()).toEqual([]);
    expect(fake.ledger().filter((l) => l.startsWith('create'))).toHaveLength(2);
    expect(fake.ledger().filter((l) => l.startsWith('delete'))).toHaveLength(2);
  });

  test('bad input is refused before anything is created: one line, its fix, exit 2', async () => {
    const { fake, env } = setUp();
    for (const args of [
      ['mysql'],
      ['svc/Not_A_Name'],
      ['svc/mysql', '--from-ip', '192.168.10.300'],
      ['svc/mysql', '--from-ip', '192.168.10.10', '--from-pod', 'nginx'],
      ['svc/mysql', '-n', 'Bad_NS'],
      ['svc/mysql', '--client-image', 'busybox; reboot'],
    ]) {
      const result = await natscope(['cluster', 'diagnose', ...args], { env });
      expect(result.exitCode, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^natscope: .*\n {2}fix: /m);
    }
    expect(fake.calls()).toEqual([]);
    // known only once the API is read: still refused before any pod is made
    const missing = await natscope(['cluster', 'diagnose', 'svc/redis'], { env });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('natscope: the cluster has no Service default/redis');
    expect(missing.stderr).toMatch(/fix: its Services in default: (nginx, mysql|mysql, nginx)/);
    expect(fake.ledger()).toEqual([]);
  });
});
