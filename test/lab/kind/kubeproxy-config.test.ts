// The ConfigMap edit must leave valid kube-proxy configuration: checked with
// a YAML parser (the one zx bundles) against kubeadm's config.conf as kind
// writes it.

import { describe, expect, test } from 'vitest';
import { YAML } from 'zx';
import { z } from 'zod';
import {
  editKubeProxyConfig,
  readKubeProxyConfig,
  readKubeProxySettings,
} from '../../../src/lab/kind/kubeproxy-config.js';
import { output } from './fakes.js';

const KUBEADM = output('kube-proxy-config.conf');
// a YAML mapping, its keys in the order written
const MappingSchema = z.record(z.string(), z.unknown());
const parse = (text: string) => MappingSchema.parse(YAML.parse(text));
// a block of config.conf (iptables:, nftables:)
const block = (yaml: Record<string, unknown>, key: string) => MappingSchema.parse(yaml[key]);

describe("kube-proxy's config.conf", () => {
  test('a default kind cluster has clusterCIDR = podSubnet and masqueradeAll off (incident.md, point 5)', () => {
    expect(readKubeProxyConfig(KUBEADM)).toEqual({
      mode: 'iptables',
      masqueradeAll: false,
      clusterCIDR: '10.244.0.0/16',
    });
  });

  test('staging the incident clears clusterCIDR, keeps masqueradeAll false, and changes nothing else', () => {
    const edited = editKubeProxyConfig(KUBEADM, { masqueradeAll: false, clusterCIDR: null });
    const before = parse(KUBEADM);
    const after = parse(edited);
    expect(after.clusterCIDR).toBe('');
    expect(block(after, 'iptables').masqueradeAll).toBe(false);
    expect({ ...after, clusterCIDR: before.clusterCIDR }).toEqual(before);
    expect(edited.split('\n').filter((l, i) => l !== KUBEADM.split('\n')[i])).toEqual(['clusterCIDR: ""']);
    expect(readKubeProxyConfig(edited)).toEqual({ mode: 'iptables', masqueradeAll: false, clusterCIDR: null });
  });

  test('masqueradeAll on changes iptables.masqueradeAll only, not the nftables one', () => {
    const staged = editKubeProxyConfig(KUBEADM, { masqueradeAll: false, clusterCIDR: null });
    const fixed = parse(editKubeProxyConfig(staged, { masqueradeAll: true, clusterCIDR: null }));
    expect(block(fixed, 'iptables').masqueradeAll).toBe(true);
    expect(block(fixed, 'nftables').masqueradeAll).toBe(false);
    expect(fixed.apiVersion).toBe('kubeproxy.config.k8s.io/v1alpha1');
    expect(fixed.kind).toBe('KubeProxyConfiguration');
    expect(fixed.mode).toBe('iptables');
    const back = editKubeProxyConfig(editKubeProxyConfig(staged, { masqueradeAll: true, clusterCIDR: null }), {
      masqueradeAll: false,
      clusterCIDR: null,
    });
    expect(back).toBe(staged);
  });

  test('a cluster CIDR is written back as a plain value', () => {
    const text = editKubeProxyConfig(KUBEADM, { masqueradeAll: false, clusterCIDR: '10.244.0.0/16' });
    expect(text).toBe(KUBEADM);
  });

  test('keys that are missing are added where kubeadm would sort them', () => {
    const minimal = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\n';
    const edited = editKubeProxyConfig(minimal, { masqueradeAll: true, clusterCIDR: null });
    expect(parse(edited)).toEqual({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      clusterCIDR: '',
      iptables: { masqueradeAll: true },
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
    });
    expect(edited.split('\n').slice(0, 4)).toEqual([
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
      'clusterCIDR: ""',
      'iptables:',
      '  masqueradeAll: true',
    ]);
  });

  test('an inline iptables block or another API version is refused, with the manual fix', () => {
    expect(() =>
      editKubeProxyConfig('apiVersion: kubeproxy.config.k8s.io/v1alpha1\niptables: {masqueradeAll: false}\n', {
        masqueradeAll: true,
        clusterCIDR: null,
      }),
    ).toThrow(/inline/);
    expect(() => readKubeProxyConfig('apiVersion: kubeproxy.config.k8s.io/v1alpha2\n')).toThrow(/v1alpha2/);
  });

  test('a kube-proxy in a mode the lab does not stage (ipvs) is reported, with the fix', () => {
    expect(() => readKubeProxyConfig(KUBEADM.replace('mode: iptables', 'mode: ipvs'))).toThrow(
      /^kube-proxy runs in ipvs mode; the lab needs iptables or nftables mode$/,
    );
  });

  test("in nftables mode (kind's kubeProxyMode: nftables) masqueradeAll is read from, and written to, nftables: only", () => {
    const NFT = KUBEADM.replace('mode: iptables', 'mode: nftables');
    // the iptables key says true: kube-proxy in nftables mode does not read it
    const misleading = NFT.replace(/^(iptables:\n(?: .*\n)*? {2}masqueradeAll:) false/m, '$1 true');
    expect(block(parse(misleading), 'iptables').masqueradeAll).toBe(true);
    expect(readKubeProxyConfig(misleading)).toEqual({
      mode: 'nftables',
      masqueradeAll: false,
      clusterCIDR: '10.244.0.0/16',
    });
    const staged = editKubeProxyConfig(NFT, { masqueradeAll: false, clusterCIDR: null });
    const fixed = editKubeProxyConfig(staged, { masqueradeAll: true, clusterCIDR: null });
    expect(fixed.split('\n').filter((l, i) => l !== staged.split('\n')[i])).toEqual(['  masqueradeAll: true']);
    const yaml = parse(fixed);
    expect(block(yaml, 'nftables').masqueradeAll).toBe(true);
    expect(block(yaml, 'iptables').masqueradeAll).toBe(false);
    expect(yaml.mode).toBe('nftables');
    expect(readKubeProxyConfig(fixed)).toEqual({ mode: 'nftables', masqueradeAll: true, clusterCIDR: null });
    expect(readKubeProxySettings(fixed)).toMatchObject({
      mode: 'nftables',
      nftablesMasqueradeAll: true,
      iptablesMasqueradeAll: false,
      masqueradeAll: true,
    });
    // a config.conf without an nftables: block gets one, where kubeadm would sort it
    const without = NFT.replace(/^nftables:\n(?: .*\n)*/m, '');
    const added = parse(editKubeProxyConfig(without, { masqueradeAll: true, clusterCIDR: null }));
    expect(added.nftables).toEqual({ masqueradeAll: true });
    expect(Object.keys(added).indexOf('nftables')).toBe(Object.keys(added).indexOf('mode') + 1);
  });

  test('read as kube-proxy reads it: the mode, both masqueradeAll keys and which one counts, clusterCIDR, the detector', () => {
    expect(readKubeProxySettings(KUBEADM)).toEqual({
      mode: 'iptables',
      iptablesMasqueradeAll: false,
      nftablesMasqueradeAll: false,
      masqueradeAll: false,
      clusterCIDR: '10.244.0.0/16',
      detectLocalModeWritten: '',
      detectLocalMode: 'ClusterCIDR',
      bridgeInterface: '',
      interfaceNamePrefix: '',
      ignoredTopLevelMasqueradeAll: null,
    });
    // nftables mode reads nftables.masqueradeAll, not the iptables one
    const nft = KUBEADM.replace('mode: iptables', 'mode: nftables').replace(
      /^nftables:\n {2}masqueradeAll: false$/m,
      'nftables:\n  masqueradeAll: true',
    );
    expect(readKubeProxySettings(nft)).toMatchObject({
      mode: 'nftables',
      nftablesMasqueradeAll: true,
      masqueradeAll: true,
    });
    const bridge = KUBEADM.replace('detectLocalMode: ""', 'detectLocalMode: BridgeInterface').replace(
      'bridgeInterface: ""',
      'bridgeInterface: cbr0',
    );
    expect(readKubeProxySettings(bridge)).toMatchObject({
      detectLocalMode: 'BridgeInterface',
      bridgeInterface: 'cbr0',
    });
    expect(
      readKubeProxySettings(KUBEADM.replace('detectLocalMode: ""', 'detectLocalMode: PodCIDR')).detectLocalMode,
    ).toBeNull();
  });

  test("a top-level masqueradeAll (the write-up's fix as worded) is reported as ignored, and changes nothing kube-proxy reads", () => {
    const wrong = KUBEADM.replace('kind: KubeProxyConfiguration', 'kind: KubeProxyConfiguration\nmasqueradeAll: true');
    const s = readKubeProxySettings(wrong);
    expect(s.ignoredTopLevelMasqueradeAll).toBe('true');
    expect(s.masqueradeAll).toBe(false);
    expect(readKubeProxyConfig(wrong).masqueradeAll).toBe(false);
  });
});
