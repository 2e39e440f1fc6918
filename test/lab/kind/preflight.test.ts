// natscope doctor --lab kind against the fake tools: the VM's own rules,
// routes and br_netfilter come from real captures (test/fixtures/kind,
// README.md), the cluster from the fake world. Each line is read back from
// what the tools report, so a broken fact fails its own line with its fix.

import { afterEach, describe, expect, test } from 'vitest';
import { imageTag } from '../../../src/lab/kind/image.js';
import { editKubeProxyConfig } from '../../../src/lab/kind/kubeproxy-config.js';
import {
  type KindPreflight,
  KindPreflightSchema,
  kindPreflight,
  type PreflightProbes,
  preflightFailed,
  renderPreflight,
} from '../../../src/lab/kind/preflight.js';
import { NODE_IMAGE_TAG } from '../../../src/lab/kind/versions.js';
import { jsonOutput, natscope } from '../../cli.js';
import { labIsUp, output, useFakes, type Fakes, type World } from './fakes.js';

const KUBEADM = output('kube-proxy-config.conf');
const STAGED = editKubeProxyConfig(KUBEADM, { masqueradeAll: false, clusterCIDR: null });
const ATTACHES: PreflightProbes = {
  functionProbes: async () => ({ ok: true, detail: 'attached' }),
  nodeVersion: '24.11.1',
};

let f: Fakes;
afterEach(() => f?.restore());

async function preflight(
  patch: Partial<World> = {},
  staged = STAGED,
  probes: PreflightProbes = ATTACHES,
): Promise<KindPreflight> {
  f = useFakes();
  await labIsUp(f, await imageTag(), staged);
  f.update(patch);
  return kindPreflight('natscope-', probes);
}

const line = (r: KindPreflight, name: string) => {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} line in ${r.checks.map((x) => x.name).join(', ')}`);
  return c;
};

// each check runs several fake tools (a Node.js process per call): seconds each on a busy machine
describe('natscope doctor --lab kind', { timeout: 60_000 }, () => {
  test('a lab staged for the incident on Docker 28 passes every line, each saying what it read', async () => {
    const r = await preflight();
    expect(r.checks.filter((c) => !c.ok)).toEqual([]);
    expect(preflightFailed(r)).toBe(false);
    expect(r.checks.map((c) => c.name)).toEqual([
      'docker',
      'docker-forward',
      'docker-raw',
      'br_netfilter',
      'cluster',
      'kube-proxy',
      'staged',
      'rules-node1',
      'rules-node2',
      'office',
      'vpn',
      'routes-node1',
      'routes-node2',
      'kind',
      'kubectl',
      'node-image',
      'nodejs',
      'kfunc',
      'blackhole',
    ]);
    expect(line(r, 'docker').detail).toBe('Docker 28.2.2');
    expect(line(r, 'docker-forward').detail).toBe(
      "filter FORWARD (policy DROP) → DOCKER-USER, DOCKER-FORWARD (Docker ≥ 28's layout); kind br-444444444444 and office br-555555555555: own traffic accepted",
    );
    expect(line(r, 'docker-raw').detail).toBe(
      "raw PREROUTING: 6 direct-access drops (Docker ≥ 28); 6 are the lab's addresses, each reachable from its own bridge, where the lab's traffic arrives",
    );
    expect(line(r, 'br_netfilter').detail).toMatch(
      /^on \(net\.bridge\.bridge-nf-call-iptables = 1\).*masquerading off/,
    );
    expect(line(r, 'cluster').detail).toBe(
      'kind cluster natscope: 3 nodes running and Ready; node1 = natscope-worker (172.18.0.3, pods 10.244.2.0/24), node2 = natscope-worker2 (172.18.0.4, pods 10.244.1.0/24)',
    );
    expect(line(r, 'kube-proxy').detail).toBe(
      'ConfigMap: mode iptables, iptables.masqueradeAll false, nftables.masqueradeAll false, clusterCIDR "", detectLocalMode "" (= ClusterCIDR)',
    );
    expect(line(r, 'staged').detail).toBe('off-cluster clients are DNATed but not masqueraded: the incident is staged');
    expect(line(r, 'rules-node1').detail).toBe(
      'natscope-worker (iptables-save, nft): no masquerade rule for default/mysql (off-cluster clients are not SNATed), as the ConfigMap says',
    );
    expect(line(r, 'vpn').detail).toBe(
      'natscope-vpn 192.168.10.1 | 172.18.0.5: 10.96.0.0/16 via node1 172.18.0.3 only, each pod CIDR via its node, FORWARD drops ctstate INVALID (the cloud fabric)',
    );
    expect(line(r, 'office').detail).toBe(
      'natscope-office 192.168.10.10 on 192.168.10.0/24 (no NAT); default via 192.168.10.1 (the vpn)',
    );
    expect(line(r, 'routes-node2').detail).toBe('natscope-worker2: 192.168.10.0/24 via 172.18.0.5 (the vpn)');
    expect(line(r, 'kind').detail).toBe('kind v0.32.0 (pinned)');
    expect(line(r, 'node-image').detail).toMatch(
      /^the nodes run kindest\/node:v1\.36\.1@sha256:[0-9a-f]{64} \(pinned\)$/,
    );
    expect(line(r, 'blackhole').detail).toBe(
      'blackhole 10.96.0.0/16: a ClusterIP packet no node DNATs (a ping) is dropped on this machine (ip route get 10.96.207.61: RTNETLINK answers: Invalid argument)',
    );
    expect(renderPreflight(r)).toMatch(/\n\nThe kind lab is ready \([\d.]+ s\)\.\n$/);
  });

  test("Docker before 28 is read in its own layout: FORWARD's isolation chain, no raw rules", async () => {
    const r = await preflight({ dockerVersion: '20.10.24+dfsg1', hostDocker: '20.10' });
    expect(line(r, 'docker-forward')).toMatchObject({ ok: true });
    expect(line(r, 'docker-forward').detail).toMatch(
      /→ DOCKER-USER, DOCKER-ISOLATION-STAGE-1 \(Docker < 28's layout\)/,
    );
    expect(line(r, 'docker-raw').detail).toBe(
      'raw PREROUTING: no rules (Docker 20.10.24+dfsg1 predates the direct-access drops of Docker 28)',
    );
  });

  test("Docker 28 without its DOCKER-FORWARD chain (rules flushed by a firewall) fails the line, with Docker's restart as the fix", async () => {
    const r = await preflight({ hostDocker: '20.10' });
    expect(line(r, 'docker-forward')).toMatchObject({
      ok: false,
      required: true,
      detail: 'filter FORWARD (policy DROP) lacks the jump to DOCKER-FORWARD Docker ≥ 28 writes',
    });
    expect(line(r, 'docker-forward').fix).toMatch(/^sudo systemctl restart docker/);
    expect(preflightFailed(r)).toBe(true);
  });

  test("the write-up's fix, a top-level masqueradeAll: true, is named as ignored, and the nodes show it changed nothing", async () => {
    const wrong = STAGED.replace(
      /^kind: KubeProxyConfiguration$/m,
      'kind: KubeProxyConfiguration\nmasqueradeAll: true',
    );
    const r = await preflight({}, wrong);
    expect(line(r, 'masqueradeAll-key')).toMatchObject({
      ok: false,
      required: false,
      detail:
        'config.conf has a top-level "masqueradeAll: true": kube-proxy ignores unknown keys, so it changes nothing',
      fix: 'the key is masqueradeAll under iptables: (iptables.masqueradeAll); sudo natscope lab set masquerade-all on writes it there',
    });
    expect(line(r, 'staged').detail).toMatch(/the incident is staged/);
    expect(line(r, 'rules-node1').ok).toBe(true);
    expect(preflightFailed(r)).toBe(false);
  });

  test("kind's default clusterCIDR is read back from the ConfigMap and from both nodes' rules: a fix is staged", async () => {
    const r = await preflight({}, KUBEADM);
    expect(line(r, 'kube-proxy').detail).toContain('clusterCIDR 10.244.0.0/16, detectLocalMode "" (= ClusterCIDR)');
    expect(line(r, 'staged')).toMatchObject({
      ok: false,
      required: false,
      detail: 'off-cluster clients are masqueraded (ClusterCIDR detector: ! -s 10.244.0.0/16): a fix is staged',
    });
    expect(line(r, 'rules-node1').detail).toBe(
      'natscope-worker (iptables-save, nft): masquerades off-cluster clients (! -s 10.244.0.0/16), as the ConfigMap says',
    );
  });

  test('a ConfigMap the running kube-proxy has not re-read fails each node whose rules disagree, with the restart as the fix', async () => {
    const r = await preflight(
      { rulesFrozen: true, initialConfigConf: STAGED },
      editKubeProxyConfig(STAGED, { masqueradeAll: true, clusterCIDR: null }),
    );
    expect(line(r, 'staged').detail).toBe('every client is masqueraded (masqueradeAll): a fix is staged');
    for (const role of ['node1', 'node2']) {
      const c = line(r, `rules-${role}`);
      expect(c.ok).toBe(false);
      expect(c.detail).toMatch(
        /no masquerade rule for default\/mysql .*; the ConfigMap says a masquerade rule with no source match$/,
      );
      expect(c.fix).toMatch(
        /^kube-proxy has not re-read its ConfigMap: kubectl -n kube-system delete pod -l k8s-app=kube-proxy/,
      );
    }
  });

  test('without the blackhole, the line says where a ClusterIP packet would leave the VM, and how to hold it', async () => {
    const r = await preflight({ blackhole: false });
    expect(line(r, 'blackhole')).toMatchObject({
      ok: false,
      required: true,
      detail:
        '10.96.207.61 leaves this machine (10.96.207.61 via 10.0.2.2 dev enp0s3): a ClusterIP ping would reach the network beyond it',
      fix: 'sudo ip route replace blackhole 10.96.0.0/16 (provisioning adds it, and its boot unit at every boot)',
    });
  });

  test('br_netfilter not loaded is fine; kernel function probes refused fail with what still works', async () => {
    const r = await preflight({ brNetfilter: null }, STAGED, {
      functionProbes: async () => ({ ok: false, detail: 'kfunc not available' }),
      nodeVersion: '20.20.2',
    });
    expect(line(r, 'br_netfilter')).toMatchObject({
      ok: true,
      detail: "not loaded: the VM's iptables do not see bridged traffic",
    });
    expect(line(r, 'kfunc')).toMatchObject({ ok: false, required: true });
    expect(line(r, 'kfunc').fix).toMatch(/natscope trace --lab kind --probes drop works without them$/);
    expect(line(r, 'nodejs')).toMatchObject({
      ok: false,
      required: false,
      detail: 'Node.js v20.20.2; the workshop VM runs Node.js 24',
    });
  });

  test('a vpn without the Service route to node1 fails its line, saying which routes are missing', async () => {
    const r = await preflight({ routeTables: { vpn: 'office' } });
    const vpn = line(r, 'vpn');
    expect(vpn.ok).toBe(false);
    expect(vpn.detail).toBe(
      'natscope-vpn: 10.96.0.0/16 via nothing, not node1 172.18.0.3; 10.244.0.0/24 via nothing, not control-plane 172.18.0.2; 10.244.2.0/24 via nothing, not node1 172.18.0.3; 10.244.1.0/24 via nothing, not node2 172.18.0.4',
    );
    expect(vpn.fix).toBe('sudo natscope lab up --lab kind');
  });

  test('nodes running the tag an offline bundle loaded count as the pinned image', async () => {
    const r = await preflight({ nodeImage: NODE_IMAGE_TAG });
    expect(line(r, 'node-image')).toMatchObject({ ok: true, detail: 'the nodes run kindest/node:v1.36.1 (pinned)' });
  });

  test('with Docker down the Docker line says so with its fix, and the cluster is not checked', async () => {
    const r = await preflight({ dockerRunning: false });
    expect(line(r, 'docker')).toMatchObject({
      ok: false,
      detail: 'Docker is not running (the Docker daemon cannot be reached)',
      fix: 'sudo systemctl start docker (then check: docker info)',
    });
    expect(line(r, 'cluster')).toMatchObject({ ok: false, detail: 'not checked: Docker does not answer' });
    expect(r.checks.some((c) => c.name === 'docker-forward')).toBe(false);
  });

  test('no cluster yet: the cluster line says so and how to make it', async () => {
    f = useFakes();
    const r = await kindPreflight('natscope-', ATTACHES);
    expect(line(r, 'cluster')).toMatchObject({
      ok: false,
      detail: 'no kind cluster named "natscope"',
      fix: 'sudo natscope lab up --lab kind',
    });
  });

  test('the command: lines with fixes on stdout, --json with every check, exit 1 exactly when a required line fails', async () => {
    f = useFakes();
    await labIsUp(f, await imageTag(), STAGED);
    f.update({ blackhole: false });
    const text = await natscope(['doctor', '--lab', 'kind'], { env: process.env });
    expect(text.stdout).toMatch(/^natscope doctor --lab kind: cluster "natscope"\n/);
    expect(text.stdout).toContain('  ✗ blackhole         10.96.207.61 leaves this machine');
    expect(text.stdout).toContain(
      '                      fix: sudo ip route replace blackhole 10.96.0.0/16 (provisioning adds it, and its boot unit at every boot)',
    );
    expect(text.exitCode).toBe(1);
    f.update({ blackhole: true });
    const json = await natscope(['doctor', '--lab', 'kind', '--json'], { env: process.env });
    const report = jsonOutput(KindPreflightSchema, json.stdout);
    expect(report.lab).toBe('kind');
    expect(report.checks.find((c) => c.name === 'blackhole')?.ok).toBe(true);
    // kernel function probes are tried for real here: the exit code follows what this kernel allows
    expect(json.exitCode).toBe(report.checks.some((c) => c.required && !c.ok) ? 1 : 0);
    const bad = await natscope(['doctor', '--lab', 'kubernetes']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/option '--lab <backend>' argument 'kubernetes' is invalid/);
  });
});
