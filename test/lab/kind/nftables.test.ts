// The kind lab with kube-proxy in nftables mode, against the fake tools
// (test/fixtures/kind: the nodes list the real `nft list table ip
// kube-proxy` output of the configuration their kube-proxy runs):
// `lab up --lab kind --proxy-mode nftables` asks kind for that mode, stages
// the incident through nftables.masqueradeAll and clusterCIDR, and reads
// the nodes' table, never iptables-save; `lab set masquerade-all` edits
// nftables.masqueradeAll; `lab rules` and `doctor --lab kind` read the mode
// back from the cluster.

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { YAML } from 'zx';
import { z } from 'zod';
import type { LabStatus } from '../../../src/events/types.js';
import { imageTag } from '../../../src/lab/kind/image.js';
import { editKubeProxyConfig } from '../../../src/lab/kind/kubeproxy-config.js';
import { kindUp, openKindLab } from '../../../src/lab/kind/lab.js';
import { kindPreflight } from '../../../src/lab/kind/preflight.js';
import { asNatscopeError } from '../../helpers.js';
import { order, output, useFakes, type Fakes } from './fakes.js';

let f: Fakes;
let status: LabStatus;
const logs: string[] = [];
let firstRun: string[] = [];

beforeAll(async () => {
  f = useFakes({ images: [await imageTag()] });
  status = await kindUp({
    prefix: 'natscope-',
    proxyMode: 'nftables',
    masqueradeAll: false,
    clusterCIDR: null,
    log: (l) => logs.push(l),
  });
  firstRun = f.lines();
}, 180_000);

afterAll(() => f.restore());

// a YAML mapping, its keys in the order written
const MappingSchema = z.record(z.string(), z.unknown());
const mapping = (text: string) => MappingSchema.parse(YAML.parse(text));
// a block of config.conf, as kubeadm writes it (two-space indents under a top-level key)
const block = (conf: string, key: string) => MappingSchema.parse(mapping(conf)[key]);

describe('lab up --lab kind --proxy-mode nftables', { timeout: 60_000 }, () => {
  test("kind is asked for kube-proxy's nftables mode (networking.kubeProxyMode), nothing else changed", () => {
    const create = f.calls().find((c) => c.tool === 'kind' && c.args[0] === 'create');
    const networking = block(create?.stdin ?? '', 'networking');
    expect(networking.kubeProxyMode).toBe('nftables');
    expect(networking).toMatchObject({ podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/16' });
  });

  test('the incident is staged in the ConfigMap: clusterCIDR cleared, nftables.masqueradeAll false, mode kept', () => {
    const conf = f.world().configConf;
    expect(mapping(conf).mode).toBe('nftables');
    expect(mapping(conf).clusterCIDR).toBe('');
    expect(block(conf, 'nftables').masqueradeAll).toBe(false);
  });

  test("the lab is ready only once both nodes' table ip kube-proxy shows no masquerade mark in mysql's chain; iptables-save is not read", () => {
    const deleted = firstRun.findIndex((l) => /delete pods -l k8s-app=kube-proxy/.test(l));
    expect(deleted).toBeGreaterThan(0);
    const nodeReads = firstRun
      .map((l, i) => [l, i] as const)
      .filter(([l, i]) => i > deleted && /^docker exec natscope-worker2? nft list table ip kube-proxy$/.test(l));
    expect(nodeReads.map(([l]) => l.split(' ')[2]).sort()).toEqual(
      expect.arrayContaining(['natscope-worker', 'natscope-worker2']),
    );
    expect(firstRun.some((l) => /^docker exec \S+ iptables(-\w+)?-save/.test(l))).toBe(false);
    const proof = firstRun.findIndex((l) => /request --proto/.test(l));
    expect(proof).toBeGreaterThan(nodeReads.at(-1)![1]);
  });

  test('the status and the progress say the mode', () => {
    expect(status.up).toBe(true);
    expect(status.kubeProxy).toEqual({ mode: 'nftables', masqueradeAll: false, clusterCIDR: null });
    expect(logs.some((l) => /^\[2\/7\] creating kind cluster "natscope": .*kube-proxy in nftables mode/.test(l))).toBe(
      true,
    );
    expect(
      logs.some((l) => /: nft list table ip kube-proxy on natscope-worker and natscope-worker2 agrees$/.test(l)),
    ).toBe(true);
    expect(logs).toContain(
      'kube-proxy ConfigMap: clusterCIDR 10.244.0.0/16 → "", nftables.masqueradeAll false → false',
    );
  });

  test("lab rules node1 is the node's nft list table ip kube-proxy", async () => {
    const lab = await openKindLab();
    expect(await lab.rules('node1')).toBe(output('nft-list-kube-proxy-none.txt'));
  });

  test('lab set masquerade-all on edits nftables.masqueradeAll (not the iptables key), restarts kube-proxy and waits for the mark on both nodes', async () => {
    const lab = await openKindLab();
    const before = f.calls().length;
    const sync = await lab.setKubeProxy({ masqueradeAll: true });
    expect(sync.kubeProxy).toEqual({ mode: 'nftables', masqueradeAll: true, clusterCIDR: null });
    const lines = f.lines().slice(before);
    expect(
      order(lines, [
        /patch configmap kube-proxy/,
        /delete pods -l k8s-app=kube-proxy/,
        /^docker exec natscope-worker2? nft list table ip kube-proxy$/,
      ]).every((i) => i >= 0),
    ).toBe(true);
    const conf = f.world().configConf;
    expect(block(conf, 'nftables').masqueradeAll).toBe(true);
    expect(block(conf, 'iptables').masqueradeAll).toBe(false);
    expect(await lab.rules('node1')).toMatch(
      /chain service-OHLJZKKC-default\/mysql\/tcp\/mysql \{\n\t\tip daddr 10\.96\.207\.61 jump mark-for-masquerade\n/,
    );
    expect((await lab.setKubeProxy({ masqueradeAll: false })).kubeProxy.masqueradeAll).toBe(false);
  });

  test('doctor --lab kind reads the mode and nftables.masqueradeAll back, from the ConfigMap and from both nodes’ tables', async () => {
    const r = await kindPreflight('natscope-', {
      functionProbes: async () => ({ ok: true, detail: 'attached' }),
      nodeVersion: '24.11.1',
    });
    const line = (name: string) => r.checks.find((c) => c.name === name)!;
    expect(line('kube-proxy')).toMatchObject({
      ok: true,
      detail:
        'ConfigMap: mode nftables, iptables.masqueradeAll false, nftables.masqueradeAll false, clusterCIDR "", detectLocalMode "" (= ClusterCIDR)',
    });
    expect(line('staged').ok).toBe(true);
    for (const [role, node] of [
      ['node1', 'natscope-worker'],
      ['node2', 'natscope-worker2'],
    ])
      expect(line(`rules-${role}`)).toMatchObject({
        ok: true,
        detail: `${node} (nft list table ip kube-proxy): no masquerade rule for default/mysql (off-cluster clients are not SNATed), as the ConfigMap says`,
      });
    // kind's default (clusterCIDR = podSubnet) read back in nftables words
    f.update({
      configConf: editKubeProxyConfig(f.world().configConf, { masqueradeAll: false, clusterCIDR: '10.244.0.0/16' }),
    });
    const unsynced = await kindPreflight('natscope-', {
      functionProbes: async () => ({ ok: true, detail: 'attached' }),
      nodeVersion: '24.11.1',
    });
    const rules1 = unsynced.checks.find((c) => c.name === 'rules-node1')!;
    expect(rules1.ok).toBe(false);
    expect(rules1.detail).toBe(
      'natscope-worker (nft list table ip kube-proxy): no masquerade rule for default/mysql (off-cluster clients are not SNATed); the ConfigMap says a masquerade rule with ip saddr != 10.244.0.0/16',
    );
  });

  test('running it again asking for iptables mode is refused: the mode is the cluster’s, set when kind created it', async () => {
    const e = asNatscopeError(
      await kindUp({
        prefix: 'natscope-',
        proxyMode: 'iptables',
        masqueradeAll: false,
        clusterCIDR: null,
        log: () => undefined,
      }).catch((x: unknown) => x),
    );
    expect(e.message).toBe('the kind cluster runs kube-proxy in nftables mode, not iptables');
    expect(e.hint).toBe(
      'recreate it in iptables mode: sudo natscope lab down --lab kind && sudo natscope lab up --lab kind',
    );
    expect(e.exitCode).toBe(2);
  });
});
