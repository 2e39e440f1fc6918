// The kind lab once it is up, against the fake tools: the same commands as
// the netns lab, answered by the cluster, the nodes and the containers.

import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { imageTag } from '../../../src/lab/kind/image.js';
import { editKubeProxyConfig } from '../../../src/lab/kind/kubeproxy-config.js';
import { openKindLab } from '../../../src/lab/kind/lab.js';
import { backendOf } from '../../../src/lab/kind/rules.js';
import { NetnsResolver } from '../../../src/tracer/netns.js';
import { asNatscopeError } from '../../helpers.js';
import { labIsUp, order, output, useFakes, type Fakes } from './fakes.js';

const STAGED = editKubeProxyConfig(output('kube-proxy-config.conf'), { masqueradeAll: false, clusterCIDR: null });
let f: Fakes;

beforeEach(async () => {
  f = useFakes({}, { waitS: 3 });
  await labIsUp(f, await imageTag(), STAGED);
});
afterEach(() => f.restore());

describe('the kind lab while it is up', () => {
  test('mysql through its ClusterIP times out, and the vpn counts the SYN-ACKs it dropped', async () => {
    const lab = await openKindLab();
    const r = await lab.request('mysql', 2000);
    expect(r).toMatchObject({
      target: 'mysql',
      via: 'service',
      dst: '10.96.207.61',
      dport: 3306,
      outcome: 'timeout',
      src: '192.168.10.10',
    });
    expect(await lab.vpnDrops()).toBe(3);
  });

  test('a pod answers with its lab node name and the peer it saw', async () => {
    const lab = await openKindLab();
    const r = await lab.request('pod/mysql', 2000);
    expect(r).toMatchObject({ outcome: 'answered', pod: 'mysql', node: 'node2', peer: `192.168.10.10:${r.sport}` });
    expect(() => lab.resolveTarget('redis')).toThrow(/unknown service or pod/);
  });

  test('lab set masquerade-all on edits the ConfigMap, deletes the kube-proxy pods and waits for the rule on both nodes', async () => {
    const lab = await openKindLab();
    const before = f.calls().length;
    const sync = await lab.setKubeProxy({ masqueradeAll: true });
    expect(sync.kubeProxy).toEqual({ mode: 'iptables', masqueradeAll: true, clusterCIDR: null });
    expect(sync.syncMs).toBeGreaterThanOrEqual(0);
    const lines = f.lines().slice(before);
    expect(
      order(lines, [
        /patch configmap kube-proxy/,
        /get pods -l k8s-app=kube-proxy/,
        /delete pods -l k8s-app=kube-proxy/,
        /get pods -l k8s-app=kube-proxy/,
        /^docker exec natscope-worker2? iptables-save -t nat$/,
      ]).every((i) => i >= 0),
    ).toBe(true);
    expect(f.world().configConf).toMatch(/^iptables:\n {2}localhostNodePorts: null\n {2}masqueradeAll: true$/m);
    expect(f.world().configConf).toMatch(/^clusterCIDR: ""$/m);
    // the fix, as in the incident: mysql answers and its pod sees node1
    const r = await lab.request('mysql', 2000);
    expect(r).toMatchObject({ outcome: 'answered', pod: 'mysql', node: 'node2', peer: `172.18.0.3:${r.sport}` });
    expect((await lab.status()).kubeProxy.masqueradeAll).toBe(true);
  });

  test('kube-proxy pods that do not become ready in time fail the change with a timeout and the fix', async () => {
    f.update({ proxyStuck: true });
    const lab = await openKindLab();
    const err = asNatscopeError(await lab.setKubeProxy({ masqueradeAll: true }).catch((e: unknown) => e));
    expect(err.message).toMatch(/^kube-proxy pods did not become ready within 3 s \(0 of 3 new pods ready\)$/);
    expect(err.hint).toMatch(/kubectl -n kube-system get pods -l k8s-app=kube-proxy/);
    expect(err.exitCode).toBe(124);
  });

  test('a kube-proxy that keeps its old rules fails the change: the rule is checked on the nodes, not assumed', async () => {
    f.update({ rulesFrozen: true, initialConfigConf: STAGED });
    const lab = await openKindLab();
    const err = asNatscopeError(await lab.setKubeProxy({ masqueradeAll: true }).catch((e: unknown) => e));
    expect(err.message).toMatch(
      /kube-proxy on natscope-worker did not write the expected rules within 3 s: wanted a masquerade rule for every client \(masqueradeAll\), found no masquerade rule/,
    );
    expect(err.exitCode).toBe(124);
  });

  test("rules are each node's own iptables-save, found in the backend kube-proxy used when the node's iptables points at the other", async () => {
    f.update({ kubeProxyBackend: 'legacy', nodeAlternative: 'nft' });
    const lab = await openKindLab();
    const rules = await lab.rules('node1');
    expect(backendOf(rules)).toBe('legacy');
    expect(rules).toContain(':KUBE-SVC-EM6TYMHOE4ZSTRV3');
    expect(f.lines()).toContain('docker exec natscope-worker iptables-legacy-save -t nat');
    expect(await lab.rules('vpn')).toContain('--ctstate INVALID');
    await expect(lab.rules('node3')).rejects.toThrow(/unknown node/);
  });

  test('events are named: pods by the netns inode crictl and stat report inside their node', async () => {
    const lab = await openKindLab();
    const resolver = new NetnsResolver();
    await lab.registerHosts(resolver);
    expect(resolver.hostOf(4026532801)).toBe('nginx');
    expect(resolver.hostOf(4026532802)).toBe('mysql');
    expect(f.lines()).toEqual(
      expect.arrayContaining([
        'docker exec natscope-worker2 crictl pods -o json',
        'docker exec natscope-worker2 crictl inspectp -o json e4c3b8d6f5a27b0c1d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c',
        'docker exec natscope-worker2 stat -L -c %i /var/run/netns/cni-mysql',
      ]),
    );
  });

  test('the status and load sources come from the lab as it is', async () => {
    const lab = await openKindLab();
    const s = await lab.status();
    expect(s).toMatchObject({ backend: 'kind', up: true, kubeProxy: { masqueradeAll: false, clusterCIDR: null } });
    expect(lab.loadSources()).toEqual(['192.168.10.20', '192.168.10.21', '192.168.10.22', '192.168.10.23']);
    expect(await lab.routes('office')).toMatch(/^default via 192\.168\.10\.1/);
  });
});
