// natscope cluster trace against the netns lab (root): the fake kubectl
// (test/fixtures/bin/fake-kubectl) serves the lab's own status as API
// objects and runs the REAL bpftrace where kubectl exec would run it in a
// node pod, one per "node" (node1, node2), at once. The drop probe
// (a tracepoint: it attaches on this host, where function probes do not)
// sees the vpn drop mysql's reply, and the merged stream carries it under
// each node's name with the Service's and the pod's names. In this lab every
// "node" shares one kernel, so each node's bpftrace sees the drop: a real
// cluster's node sees only its own. `cluster tui` is driven the same way,
// in a real terminal (tmux). `cluster diagnose`'s request pod runs in the
// lab's office (the fake kubectl's `run`, FAKE_KUBECTL_RUN_NETNS): a client
// outside the cluster, as in the incident.

import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DiagnosisSchema } from '../../src/cluster/diagnose.js';
import { decodeEvent } from '../../src/events/codec.js';
import {
  type DropEvent,
  isKernelEvent,
  type LabStatus,
  LabStatusSchema,
  RequestEventSchema,
} from '../../src/events/types.js';
import { jsonOutput, natscope } from '../cli.js';
import { tempDirForTest, testTempDir } from '../helpers.js';
import { TmuxSession } from '../tmux.js';
import { fakeCluster, labObjects } from './fakeCluster.js';

const PREFIX = 'natscope-cl-';
const lab = (...args: string[]) => natscope(['lab', ...args, '--vm', 'off', '--prefix', PREFIX]);
const dir = testTempDir('natscope-cluster-lab-');

let status: LabStatus;

beforeAll(async () => {
  await lab('down');
  const up = await lab('up');
  expect(up.exitCode, String(up.stderr)).toBe(0);
  status = jsonOutput(LabStatusSchema, (await lab('status', '--json')).stdout);
});

afterAll(async () => {
  await lab('down');
});

describe('natscope cluster trace on the lab, with the real bpftrace on two nodes at once', () => {
  test("a failing request to mysql: the vpn's drop of the reply is in the merged stream, named, from both nodes", async () => {
    const fake = fakeCluster(dir, labObjects(status, ['node1', 'node2']));
    const trace = execa(
      process.execPath,
      [
        'dist/src/main.js',
        'cluster',
        'trace',
        '--nodes',
        'node1,node2',
        '--probes',
        'drop',
        '--json',
        '--duration',
        '20',
      ],
      { reject: false, env: fake.env, timeout: 110_000 },
    );
    let stderr = '';
    trace.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    for (let i = 0; i < 1200 && !stderr.includes('tracing drop on'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toMatch(/tracing drop on node1 \(bpftrace [\d.]+\), node2 \(bpftrace [\d.]+\)/);

    const request = await lab('request', 'mysql', '--timeout', '2', '--json');
    const r = jsonOutput(RequestEventSchema, request.stdout);
    expect(r.outcome).toBe('timeout');

    const result = await trace;
    expect(result.exitCode, stderr).toBe(0);
    const events = String(result.stdout)
      .split('\n')
      .filter(Boolean)
      .map((l, i) => decodeEvent(l, i + 1));
    const drops = events.filter(
      (e): e is DropEvent =>
        e.kind === 'drop' && e.reason === 'NETFILTER_DROP' && e.packet.dport === r.sport && e.packet.sport === 3306,
    );
    // the reply from the pod to the office, dropped in the vpn's namespace, reported by each node's bpftrace
    expect(new Set(drops.map((d) => d.host))).toEqual(new Set(['node1', 'node2']));
    for (const d of drops) {
      expect(d.netns).toBe(status.hosts.vpn!.inode);
      expect(d.packet).toMatchObject({ proto: 'tcp', src: '10.244.2.2', dst: r.src });
      expect(d.names).toMatchObject({ '10.244.2.2': 'default/mysql' });
    }
    // the nodes' clocks, read through kubectl exec, are this machine's: aligned to within their reading
    const uncertaintyMs = new Map<string, number>();
    for (const node of ['node1', 'node2']) {
      const m = new RegExp(`${node}: ([+-])([\\d.]+) ms, ±([\\d.]+) ms read`).exec(stderr);
      expect(m, stderr).not.toBeNull();
      expect(Number(m![2])).toBeLessThanOrEqual(Number(m![3]) + 1);
      uncertaintyMs.set(node, Number(m![3]));
    }
    // one stream in time order across both nodes
    const times = events.filter(isKernelEvent).map((e) => e.t);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    // the one kernel event, reported by both nodes, lands at times as close as their two readings allow
    const [a, b] = [drops.find((d) => d.host === 'node1')!, drops.find((d) => d.host === 'node2')!];
    const allowedMs = uncertaintyMs.get('node1')! + uncertaintyMs.get('node2')! + 1;
    expect(Math.abs(a.t - b.t) / 1e6).toBeLessThanOrEqual(allowedMs);
    expect(stderr).toMatch(/0 lost/);
    // every node pod created was deleted
    const ledger = fake.ledger();
    expect(ledger.filter((l) => l.startsWith('create'))).toHaveLength(2);
    expect(ledger.filter((l) => l.startsWith('delete'))).toHaveLength(2);
    expect(fake.livePods()).toEqual([]);
    process.stderr.write(
      `  cluster lab: ${drops.length} reports of the vpn's drop; ${stderr.match(/clocks, onto this machine's: .*/)?.[0]}\n`,
    );
  });
});

describe('natscope cluster tui on the lab, with the real bpftrace on two nodes', () => {
  const terminal = new TmuxSession('cluster-tui-lab');
  afterAll(async () => {
    await terminal.close();
  });

  test("a failing request to mysql: the vpn's drop of the reply is on screen, named, and q leaves no pod", async () => {
    const tuiDir = tempDirForTest('natscope-cluster-tui-lab-');
    const fake = fakeCluster(tuiDir, labObjects(status, ['node1', 'node2']));
    const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    const vars = Object.entries({ ...fake.env, LANG: 'C.UTF-8' }).map(([k, v]) => `${k}=${quote(v)}`);
    const main = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
    terminal.start(
      `env ${vars.join(' ')} node ${quote(main)} cluster tui --nodes node1,node2 --probes drop; echo "natscope exited $?"; sleep 120`,
      120,
      40,
    );
    await terminal.waitFor((t) => t.includes('clocks ±'), 'bpftrace to attach on both nodes', 90_000);
    const request = await lab('request', 'mysql', '--timeout', '2', '--json');
    const r = jsonOutput(RequestEventSchema, request.stdout);
    expect(r.outcome).toBe('timeout');
    // the reply from the mysql pod to the office's port, dropped by the vpn, with the pod's Kubernetes name
    const drop = new RegExp(
      `node[12] +✗ NETFILTER_DROP.* 10\\.244\\.2\\.2:3306 \\(mysql\\) → ${(r.src ?? '').replace(/\./g, '\\.')}:${r.sport} SYN-ACK`,
    );
    const s = await terminal.waitFor((t) => drop.test(t), "the vpn's drop on screen", 20_000);
    expect(s).toMatch(/cluster kubectl's current context │ nodes node1, node2 │ clocks ±[\d.]+ ms/);
    expect(fake.livePods()).toHaveLength(2);
    await terminal.keys('q');
    const after = await terminal.waitFor((t) => t.includes('natscope exited'), 'natscope to exit', 60_000);
    expect(after).toContain('natscope exited 0');
    expect(after).toMatch(/natscope cluster tui: \d+ events from 2 node\(s\), 0 lost; node pods deleted/);
    expect(fake.livePods()).toEqual([]);
    const ledger = fake.ledger();
    expect(ledger.filter((l) => l.startsWith('create'))).toHaveLength(2);
    expect(ledger.filter((l) => l.startsWith('delete'))).toHaveLength(2);
  });
});

describe('natscope cluster diagnose on the lab: the request pod in the office, the real bpftrace (drops) on two nodes', () => {
  test('mysql: the reply dropped in the vpn; nginx: answered; with masqueradeAll on, mysql answered', {
    timeout: 400_000,
  }, async () => {
    const diagnoseDir = tempDirForTest('natscope-cluster-diagnose-lab-');
    const fake = fakeCluster(diagnoseDir, labObjects(status, ['node1', 'node2']));
    const env = { ...fake.env, FAKE_KUBECTL_RUN_NETNS: status.hosts.office!.netns };
    const diagnose = async (svc: string) => {
      const result = await execa(
        process.execPath,
        ['dist/src/main.js', 'cluster', 'diagnose', svc, '--nodes', 'node1,node2', '--probes', 'drop', '--json'],
        { reject: false, env, timeout: 150_000 },
      );
      const d = jsonOutput(DiagnosisSchema.nullable(), String(result.stdout) || 'null');
      expect(d, String(result.stderr)).not.toBeNull();
      return { exitCode: result.exitCode, d: d!, stderr: String(result.stderr) };
    };

    const mysql = await diagnose('svc/mysql');
    expect(mysql.stderr).toContain('the request pod was not answered');
    expect(mysql.exitCode).toBe(1);
    expect(mysql.d.verdict).toBe('dropped');
    const drop = mysql.d.drops.find((d) => d.direction === 'reply');
    // the pod's SYN-ACK to the office, dropped by the vpn's conntrack rule, in the vpn's namespace
    expect(drop).toMatchObject({ reason: 'NETFILTER_DROP', netns: status.hosts.vpn!.inode, nodes: ['node1', 'node2'] });
    expect(drop!.packet).toMatch(/^tcp 10\.244\.2\.2:3306 → 192\.168\.10\.10:\d+ SYN,ACK$/);
    expect(mysql.d.notSeen).toContain('the DNAT: the nat probe was not running (--probes)');

    const nginx = await diagnose('svc/nginx');
    expect(nginx.exitCode, nginx.stderr).toBe(0);
    expect(nginx.d.verdict).toBe('answered');
    expect(nginx.d.drops.filter((d) => d.reason === 'NETFILTER_DROP')).toEqual([]);

    const on = await lab('set', 'masquerade-all', 'on');
    expect(on.exitCode, String(on.stderr)).toBe(0);
    try {
      const fixed = await diagnose('svc/mysql');
      expect(fixed.exitCode, fixed.stderr).toBe(0);
      expect(fixed.d.verdict).toBe('answered');
      expect(fixed.d.drops.filter((d) => d.reason === 'NETFILTER_DROP')).toEqual([]);
    } finally {
      await lab('set', 'masquerade-all', 'off');
    }
    // every pod created (two node pods and one request pod a run) was deleted
    const ledger = fake.ledger();
    expect(ledger.filter((l) => l.startsWith('create'))).toHaveLength(9);
    expect(ledger.filter((l) => l.startsWith('delete'))).toHaveLength(9);
    expect(fake.livePods()).toEqual([]);
    process.stderr.write(`  cluster diagnose lab: mysql ${mysql.d.summary}\n`);
  });
});
