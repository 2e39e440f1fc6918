// kubectl natscope …: the plugin's words mapped onto natscope cluster …,
// and the built kubectl-natscope run as kubectl runs a plugin (every
// argument after "natscope"), against the fake kubectl: the context reaches
// kubectl, a bad word is one line with its fix.

import { execFileSync } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { pluginCall } from '../../src/cli/kubectlPlugin.js';
import { NatscopeError } from '../../src/errors.js';
import { fakeCluster, labObjects, recordedLabStatus } from '../cluster/fakeCluster.js';
import { FIXTURES, tempDirForTest } from '../helpers.js';

const PLUGIN = fileURLToPath(new URL('../../dist/src/kubectlPlugin.js', import.meta.url));

// the real kubectl, when this machine has one (its plugin lookup is what users go through)
function realKubectl(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
const KUBECTL = realKubectl();

describe('kubectl natscope: the words', () => {
  test('trace, tui and diagnose are natscope cluster trace, tui and diagnose, every argument kept in order', () => {
    expect(pluginCall(['trace', '--context', 'prod', '--nodes', 'a,b'])).toEqual({
      argv: ['cluster', 'trace', '--context', 'prod', '--nodes', 'a,b'],
      env: {},
    });
    expect(pluginCall(['tui', '--context=prod']).argv).toEqual(['cluster', 'tui', '--context=prod']);
    expect(pluginCall(['diagnose', 'svc/mysql', '-n', 'shop', '--json']).argv).toEqual([
      'cluster',
      'diagnose',
      'svc/mysql',
      '-n',
      'shop',
      '--json',
    ]);
  });

  test("an argument is never split or joined: what looks like a shell's text stays one argument", () => {
    expect(pluginCall(['trace', '--nodes', 'a; rm -rf /', '$(id)']).argv).toEqual([
      'cluster',
      'trace',
      '--nodes',
      'a; rm -rf /',
      '$(id)',
    ]);
  });

  test("kubectl's --kubeconfig becomes KUBECONFIG for the kubectl natscope runs", () => {
    expect(pluginCall(['trace', '--kubeconfig', '/k/config', '--context', 'x'])).toEqual({
      argv: ['cluster', 'trace', '--context', 'x'],
      env: { KUBECONFIG: '/k/config' },
    });
    expect(pluginCall(['tui', '--kubeconfig=/k/c']).env).toEqual({ KUBECONFIG: '/k/c' });
    // after "--" nothing is the plugin's
    expect(pluginCall(['trace', '--', '--kubeconfig', 'x']).argv).toEqual([
      'cluster',
      'trace',
      '--',
      '--kubeconfig',
      'x',
    ]);
  });

  test('no word or --help shows natscope cluster --help; an unknown word is refused with the words there are', () => {
    expect(pluginCall([]).argv).toEqual(['cluster', '--help']);
    expect(pluginCall(['--help']).argv).toEqual(['cluster', '--help']);
    expect(() => pluginCall(['exec'])).toThrow(NatscopeError);
    expect(() => pluginCall(['exec'])).toThrow('kubectl natscope has no command "exec"');
    expect(() => pluginCall(['trace', '--kubeconfig'])).toThrow('--kubeconfig needs the path');
  });
});

describe('kubectl-natscope, the executable', { timeout: 60_000 }, () => {
  test("runs natscope cluster trace with kubectl's context passed through to every kubectl call", async () => {
    const dir = tempDirForTest('natscope-kubectl-plugin-');
    const fake = fakeCluster(dir, labObjects(recordedLabStatus()), join(FIXTURES, 'bin', 'fake-bpftrace'));
    const env = {
      ...fake.env,
      FAKE_BPFTRACE_MODE: 'ok',
      FAKE_BPFTRACE_OUTPUT: join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl'),
    };
    const result = await execa(
      PLUGIN,
      ['trace', '--context', 'workshop', '--nodes', 'node1', '--probes', 'drop', '--duration', '1', '--json'],
      { env, reject: false },
    );
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/tracing drop on node1 \(bpftrace 0\.17\.0\)/);
    expect(result.stdout.split('\n').filter(Boolean).length).toBeGreaterThan(0);
    const calls = fake.calls();
    expect(calls.length).toBeGreaterThan(3);
    for (const call of calls) expect(call[0]).toBe('--context=workshop');
    expect(fake.livePods()).toEqual([]);
  });

  test.skipIf(KUBECTL === null)(
    'the real kubectl finds it on the PATH and hands it every argument after "natscope"',
    async () => {
      const dir = tempDirForTest('natscope-kubectl-plugin-');
      const fake = fakeCluster(dir, labObjects(recordedLabStatus()));
      symlinkSync(PLUGIN, join(fake.bin, 'kubectl-natscope'));
      // the real kubectl by its path; natscope's own kubectl calls go to the fake first on the PATH
      const result = await execa(KUBECTL!, ['natscope', 'trace', '--context', 'workshop', '--namespace', 'Bad_NS'], {
        env: fake.env,
        reject: false,
      });
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(/^natscope: --namespace "Bad_NS" is not a namespace name/);
      // kubectl's own rule: its flags cannot come before a plugin's name (docs/cluster.md says so)
      const before = await execa(KUBECTL!, ['--context', 'workshop', 'natscope', 'trace'], {
        env: fake.env,
        reject: false,
      });
      expect(before.exitCode).not.toBe(0);
      expect(before.stderr).toContain('flags cannot be placed before plugin name');
      expect(fake.calls()).toEqual([]);
    },
  );

  test('an unknown word: one line, its fix, exit 2, kubectl never asked', async () => {
    const dir = tempDirForTest('natscope-kubectl-plugin-');
    const fake = fakeCluster(dir, labObjects(recordedLabStatus()));
    const result = await execa(PLUGIN, ['exec', 'pod'], { env: fake.env, reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      'natscope: kubectl natscope has no command "exec"\n  fix: kubectl natscope trace|tui|diagnose … (kubectl natscope --help)',
    );
    expect(fake.calls()).toEqual([]);
  });

  test("natscope's own refusals come through with its exit code", async () => {
    const dir = tempDirForTest('natscope-kubectl-plugin-');
    const fake = fakeCluster(dir, labObjects(recordedLabStatus()));
    const result = await execa(PLUGIN, ['trace', '--namespace', 'Bad_NS'], { env: fake.env, reject: false });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^natscope: --namespace "Bad_NS" is not a namespace name\n {2}fix: /);
    expect(fake.calls()).toEqual([]);
  });
});
