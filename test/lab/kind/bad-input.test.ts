// What `lab up --lab kind` refuses, and how: one line with the fix, a
// non-zero exit, and nothing deleted that natscope did not create.

import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import type { NatscopeError } from '../../../src/errors.js';
import { imageTag } from '../../../src/lab/kind/image.js';
import { editKubeProxyConfig } from '../../../src/lab/kind/kubeproxy-config.js';
import { labControl } from '../../../src/agent/control.js';
import { kindUp } from '../../../src/lab/kind/lab.js';
import { KindStateSchema } from '../../../src/lab/kind/state.js';
import { asNatscopeError } from '../../helpers.js';
import { labIsUp, output, useFakes, type Fakes, type World } from './fakes.js';

let f: Fakes;
afterEach(() => f.restore());

async function up(patch: Partial<World>, options: { only?: string[]; vm?: 'on' } = {}): Promise<NatscopeError> {
  f = useFakes(patch, { only: options.only, waitS: 2 });
  const control = await labControl('kind');
  const error = await control
    .up({
      prefix: 'natscope-',
      vm: options.vm ?? 'auto',
      masqueradeAll: false,
      clusterCIDR: null,
      proxyMode: 'iptables',
      log: () => undefined,
    })
    .then(
      () => null,
      (e: unknown) => e,
    );
  return asNatscopeError(error);
}

// lab up --lab kind with the incident's settings, called directly, expected to fail: its error.
async function kindUpError(): Promise<NatscopeError> {
  const failed = await kindUp({
    prefix: 'natscope-',
    masqueradeAll: false,
    clusterCIDR: null,
    log: () => undefined,
  }).catch((x: unknown) => x);
  return asNatscopeError(failed);
}

// Nothing removed, stopped or rewritten; nothing created either.
function changedNothing(): void {
  expect(
    f
      .lines()
      .filter((l) =>
        /^docker (rm|run|network (rm|create|connect)|image rm|import)|^kind (create|delete|load)|patch|delete pods|apply/.test(
          l,
        ),
      ),
  ).toEqual([]);
}

describe('lab up --lab kind refuses bad input', () => {
  test('Docker not running', async () => {
    const e = await up({ dockerRunning: false });
    expect(e.message).toBe('Docker is not running (the Docker daemon cannot be reached)');
    expect(e.hint).toMatch(/systemctl start docker/);
    expect(e.exitCode).not.toBe(0);
    changedNothing();
  });

  test('kind missing', async () => {
    const e = await up({}, { only: ['docker', 'kubectl', 'nsenter'] });
    expect(e.message).toBe('kind not found on PATH');
    expect(e.hint).toMatch(/install kind v0\.32\.0/);
    expect(e.exitCode).toBe(127);
    changedNothing();
  });

  test('kubectl missing', async () => {
    const e = await up({}, { only: ['docker', 'kind', 'nsenter'] });
    expect(e.message).toBe('kubectl not found on PATH');
    expect(e.hint).toMatch(/install kubectl v1\.36/);
    changedNothing();
  });

  test("not root: the containers' namespaces cannot be entered", async () => {
    const e = await up({ notRoot: true });
    expect(e.message).toMatch(
      /^lab up --lab kind needs root: it enters the containers' network namespaces \(nsenter: reassociate/,
    );
    expect(e.hint).toBe('sudo natscope lab up --lab kind');
    changedNothing();
  });

  test('a cluster of the same name that natscope did not create', async () => {
    const e = await up({ clusters: ['natscope'] });
    expect(e.message).toBe('a kind cluster named "natscope" exists and natscope did not create it');
    expect(e.hint).toMatch(/another --prefix .* kind delete cluster --name natscope/);
    expect(e.exitCode).toBe(2);
    changedNothing();
  });

  test("a container with the office's name that natscope did not create", async () => {
    const e = await up({
      containers: { 'natscope-office': { id: '9'.repeat(64), running: true, pid: 1, labels: {}, networks: {} } },
    });
    expect(e.message).toBe('container natscope-office already exists and natscope did not create it');
    expect(e.exitCode).toBe(2);
    changedNothing();
  });

  test('an office CIDR colliding with a Docker network', async () => {
    const e = await up({ networks: { corp: { id: '8'.repeat(64), subnet: '192.168.0.0/16' } } });
    expect(e.message).toBe('the office CIDR 192.168.10.0/24 overlaps Docker network "corp" (192.168.0.0/16)');
    expect(e.hint).toMatch(/NATSCOPE_KIND_OFFICE_CIDR=/);
    expect(e.exitCode).toBe(2);
    changedNothing();
  });

  test('the micro-VM, where there is no Docker', async () => {
    const e = await up({}, { vm: 'on' });
    expect(e.message).toMatch(/runs on this machine's Docker, not in the micro-VM/);
    expect(e.exitCode).toBe(2);
  });

  test('nodes that do not become Ready: a timeout with the fix, the cluster kept for inspection', async () => {
    f = useFakes({}, { waitS: 2 });
    await labIsUp(f, await imageTag(), output('kube-proxy-config.conf'));
    f.update({ nodesNotReady: true });
    const e = await kindUpError();
    expect(e.message).toBe("the cluster's nodes did not become Ready within 2 s");
    expect(e.exitCode).toBe(124);
    expect(f.lines().some((l) => /^kind delete|^docker rm/.test(l))).toBe(false);
  });
});

describe('lab up --lab kind does not call a lab ready that would hide the incident', () => {
  test('kube-proxy still writing the masquerade rule on the nodes fails lab up', async () => {
    f = useFakes({}, { waitS: 2 });
    await labIsUp(f, await imageTag(), output('kube-proxy-config.conf'));
    // the ConfigMap is edited and the pods restarted, but the nodes keep the default cluster's rules
    f.update({ rulesFrozen: true });
    const e = await kindUpError();
    expect(e.message).toMatch(
      /^kube-proxy on natscope-worker did not write the expected rules within 2 s: wanted no masquerade rule, found masquerades off-cluster clients \(! -s 10\.244\.0\.0\/16\) \(-A KUBE-SVC-EM6TYMHOE4ZSTRV3 ! -s 10\.244\.0\.0\/16 /,
    );
    expect(e.exitCode).toBe(124);
    expect(f.lines().some((l) => / request --proto /.test(l))).toBe(false);
    expect(
      KindStateSchema.parse(
        JSON.parse(
          await import('node:fs').then((fs) => fs.readFileSync(join(f.stateDir, 'natscope-kind.json'), 'utf8')),
        ),
      ).complete,
    ).toBe(false);
  }, 180_000);

  test("Docker masquerading the office between the nodes is caught by the proof from node2's conntrack", async () => {
    f = useFakes({}, { waitS: 2 });
    const staged = editKubeProxyConfig(output('kube-proxy-config.conf'), { masqueradeAll: false, clusterCIDR: null });
    await labIsUp(f, await imageTag(), staged);
    f.update({ node2SeesFrom: '172.18.0.1' });
    const e = await kindUpError();
    expect(e.message).toMatch(
      /^node2 saw the office's connection to mysql coming from 172\.18\.0\.1:\d+, not from 192\.168\.10\.10/,
    );
    expect(e.hint).toMatch(/MASQUERADE\/SNAT .* br_netfilter/);
  }, 180_000);
});
