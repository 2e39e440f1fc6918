// natscope cluster tui as a user runs it: the real binary in a real
// terminal (tmux), against the fake kubectl (test/fixtures/bin/fake-kubectl)
// serving the incident lab's objects, with the fake bpftrace (a real
// capture) where kubectl exec would run the real one. What the screen
// shows, and that every pod it created is deleted on every way out: q,
// q while the pods start, an error while they start.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { isAlive } from '../../src/util/process.js';
import { natscope } from '../cli.js';
import { fakeCluster, labObjects, recordedLabStatus } from '../cluster/fakeCluster.js';
import { FIXTURES, tempDirForTest } from '../helpers.js';
import { TmuxSession } from '../tmux.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const FAKE_BPFTRACE = join(FIXTURES, 'bin', 'fake-bpftrace');

function setUp(extra: Record<string, string> = {}) {
  const dir = tempDirForTest('natscope-cluster-tui-');
  const fake = fakeCluster(dir, labObjects(recordedLabStatus()), FAKE_BPFTRACE);
  const env: Record<string, string> = {
    ...fake.env,
    FAKE_BPFTRACE_MODE: 'ok',
    FAKE_BPFTRACE_OUTPUT: join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl'),
    FAKE_BPFTRACE_LOG: join(dir, 'bpftrace.log'),
    ...extra,
  };
  return { fake, dir, env };
}

// every pod created was deleted, each once
function balanced(ledger: string[]): boolean {
  const created = ledger.filter((l) => l.startsWith('create ')).map((l) => l.slice(7));
  const deleted = ledger.filter((l) => l.startsWith('delete ')).map((l) => l.slice(7));
  return created.length > 0 && [...created].sort().join() === [...deleted].sort().join();
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

const terminals: TmuxSession[] = [];
afterEach(async () => {
  for (const t of terminals.splice(0)) await t.close();
});

// natscope cluster tui ARGS in a 120×40 tmux window, with the fake cluster's environment.
function inTmux(env: Record<string, string>, args: string[]): TmuxSession {
  const terminal = new TmuxSession('cluster-tui');
  terminals.push(terminal);
  const vars = Object.entries({ ...env, LANG: 'C.UTF-8' }).map(([k, v]) => `${k}=${quote(v)}`);
  terminal.start(
    `env ${vars.join(' ')} node ${quote(MAIN)} cluster tui ${args.map(quote).join(' ')}; echo "natscope exited $?"; sleep 120`,
    120,
    40,
  );
  return terminal;
}

describe('natscope cluster tui', { timeout: 120_000 }, () => {
  test("draws both nodes' merged stream with Kubernetes names, says which context, nodes and clocks, and q deletes the pods", async () => {
    if (!existsSync(MAIN)) throw new Error('dist/src/main.js is missing: run npm run build first');
    const { fake, dir, env } = setUp();
    const terminal = inTmux(env, ['--nodes', 'node1,node2', '--probes', 'drop']);
    const s = await terminal.waitFor(
      (t) => /node[12] +✗ /.test(t) && t.includes('clocks ±'),
      'the capture’s drop, and the header once every node traces',
      45_000,
    );
    expect(s).toMatch(/cluster kubectl's current context │ nodes node1, node2 │ clocks ±[\d.]+ ms/);
    expect(s).toContain('live, through kubectl');
    // the drop row: the node as the host, the pod's Kubernetes name beside its address (the reason is
    // named from this host's BTF, not the capture's kernel: the fake bpftrace replays another kernel's codes)
    expect(s).toMatch(/node[12] +✗ [A-Z_]+.* 10\.244\.2\.2:3306 \(mysql\) → 192\.168\.10\.10:\d+/);
    // DNAT rows: the Service's name from the API
    expect(s).toMatch(
      /node[12] +192\.168\.10\.\d+:\d+ → 10\.96\.\d+\.\d+:(3306|80) +│.*\n +[\d.]+ (mysql|nginx) +⇒ +→ 10\.244\.\d\.2:(3306|80)/,
    );
    expect(s).not.toContain('r request');
    expect(fake.livePods()).toHaveLength(2);
    // keys that would change a lab say what a cluster session is instead
    await terminal.keys('r');
    await terminal.waitFor((t) => t.includes('cluster: natscope only watches a real cluster'), 'the refusal');
    const bpftracePid = Number(readFileSync(join(dir, 'bpftrace.log.pid'), 'utf8'));
    await terminal.keys('q');
    const after = await terminal.waitFor((t) => t.includes('natscope exited'), 'natscope to exit', 30_000);
    expect(after).toContain('natscope exited 0');
    expect(after).toMatch(/natscope cluster tui: \d+ events from 2 node\(s\), 0 lost; node pods deleted/);
    expect(fake.livePods()).toEqual([]);
    expect(balanced(fake.ledger())).toBe(true);
    expect(isAlive(bpftracePid)).toBe(false);
  });

  test('q while the node pods wait for their image: the wait ends, the pods are deleted, exit 0', async () => {
    const { fake, env } = setUp({ FAKE_KUBECTL_POD_STATE: 'pending' });
    const terminal = inTmux(env, ['--nodes', 'node1,node2', '--probes', 'drop']);
    await terminal.waitFor((t) => t.includes('ImagePullBackOff'), 'the pods to wait for their image', 45_000);
    expect(fake.livePods()).toHaveLength(2);
    await terminal.keys('q');
    const after = await terminal.waitFor((t) => t.includes('natscope exited'), 'natscope to exit', 20_000);
    expect(after).toContain('natscope exited 0');
    expect(fake.livePods()).toEqual([]);
    expect(balanced(fake.ledger())).toBe(true);
  });

  test('a refused pod creation: the terminal comes back, then one line with its fix, exit 1, nothing left', async () => {
    const { fake, env } = setUp({ FAKE_KUBECTL_FAIL: 'apply' });
    const terminal = inTmux(env, ['--probes', 'drop']);
    const after = await terminal.waitFor((t) => t.includes('natscope exited'), 'natscope to exit', 20_000);
    expect(after).toMatch(/natscope: kubectl apply \(node pods\) was refused: .*forbidden/i);
    expect(after).toContain('fix: natscope needs the permissions in deploy/cluster/rbac.yaml');
    expect(after).toContain('natscope exited 1');
    expect(fake.livePods()).toEqual([]);
  });

  test('bad options and a missing terminal are refused before kubectl is asked anything', async () => {
    const { fake, env } = setUp();
    const bad = await natscope(['cluster', 'tui', '--namespace', 'Not_A_Namespace'], { env });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^natscope: --namespace "Not_A_Namespace" is not a namespace name\n {2}fix: /m);
    const noTerminal = await natscope(['cluster', 'tui', '--nodes', 'node1'], { env });
    expect(noTerminal.exitCode).not.toBe(0);
    expect(noTerminal.stderr).toContain('natscope: natscope tui needs a terminal');
    expect(fake.calls()).toEqual([]);
  });
});
