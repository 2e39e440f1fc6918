// kube-proxy's masquerade rule read from a kind node's iptables-save (real
// captures of both backends) or, in nftables mode, its `nft list table ip
// kube-proxy` (real listings: capture-nftables.ts), and what each
// configuration should leave there.

import { describe, expect, test } from 'vitest';
import { editKubeProxyConfig, readKubeProxySettings } from '../../../src/lab/kind/kubeproxy-config.js';
import {
  backendOf,
  describeFinding,
  expectedMasquerade,
  findingMatches,
  findServiceMasquerade,
  mysqlChain,
  rulesMatch,
} from '../../../src/lab/kind/rules.js';
import { output } from './fakes.js';
import type { ProxyMode } from '../../../src/events/types.js';

const config = (masqueradeAll: boolean, clusterCIDR: string | null, mode: ProxyMode = 'iptables') => ({
  mode,
  masqueradeAll,
  clusterCIDR,
});

describe("kube-proxy's masquerade rule on a kind node (iptables-save, either backend)", () => {
  test('the mysql Service chain is the one kube-proxy derives from default/mysql:mysql', () => {
    expect(mysqlChain()).toBe('KUBE-SVC-EM6TYMHOE4ZSTRV3');
  });

  for (const backend of ['nft', 'legacy'] as const) {
    test(`${backend}: a default kind cluster masquerades clients outside the pod CIDR`, () => {
      const text = output(`iptables-save-nat-${backend}-cluster-cidr.txt`);
      expect(backendOf(text)).toBe(backend);
      const found = findServiceMasquerade(text);
      expect(found.notSource).toBe('10.244.0.0/16');
      expect(found.rule).toMatch(
        /^-A KUBE-SVC-EM6TYMHOE4ZSTRV3 ! -s 10\.244\.0\.0\/16 -d 10\.96\.207\.61\/32 .* -j KUBE-MARK-MASQ$/,
      );
      expect(rulesMatch(found, config(false, '10.244.0.0/16'))).toBe(true);
      expect(rulesMatch(found, config(false, null))).toBe(false);
    });

    test(`${backend}: with clusterCIDR cleared the mysql chain has no KUBE-MARK-MASQ rule (the incident)`, () => {
      const found = findServiceMasquerade(output(`iptables-save-nat-${backend}-none.txt`));
      expect(found).toEqual({ mode: 'iptables', chainPresent: true, rule: null, notSource: null, notInterface: null });
      expect(rulesMatch(found, config(false, null))).toBe(true);
      expect(describeFinding(found)).toMatch(/not SNATed/);
    });

    test(`${backend}: masqueradeAll marks every client`, () => {
      const found = findServiceMasquerade(output(`iptables-save-nat-${backend}-masquerade-all.txt`));
      expect(found.rule).not.toBeNull();
      expect(found.notSource).toBeNull();
      expect(rulesMatch(found, config(true, null))).toBe(true);
      expect(rulesMatch(found, config(false, null))).toBe(false);
    });
  }

  test('rules without the mysql chain do not count as synced, whatever is wanted', () => {
    const found = findServiceMasquerade(output('iptables-save-nat-nft-kindnet-only.txt'));
    expect(found.chainPresent).toBe(false);
    expect(rulesMatch(found, config(false, null))).toBe(false);
  });

  test('the hairpin rule in the endpoint chain is not mistaken for the Service rule', () => {
    const text = output('iptables-save-nat-nft-none.txt');
    expect(text).toMatch(/-A KUBE-SEP-\S+ -s 10\.244\.1\.2\/32 .* -j KUBE-MARK-MASQ/);
    expect(findServiceMasquerade(text).rule).toBeNull();
  });

  test("each local-traffic detector's expected rule, from the settings kube-proxy reads, matches what the node shows", () => {
    const staged = readKubeProxySettings(
      editKubeProxyConfig(output('kube-proxy-config.conf'), { masqueradeAll: false, clusterCIDR: null }),
    );
    const kindDefault = readKubeProxySettings(output('kube-proxy-config.conf'));
    const none = findServiceMasquerade(output('iptables-save-nat-nft-none.txt'));
    const cidr = findServiceMasquerade(output('iptables-save-nat-nft-cluster-cidr.txt'));
    const all = findServiceMasquerade(output('iptables-save-nat-nft-masquerade-all.txt'));
    expect(expectedMasquerade(staged, '10.244.2.0/24')).toEqual({ rule: false, notSource: null, notInterface: null });
    expect(findingMatches(none, expectedMasquerade(staged, null))).toBe(true);
    expect(findingMatches(cidr, expectedMasquerade(staged, null))).toBe(false);
    expect(findingMatches(cidr, expectedMasquerade(kindDefault, null))).toBe(true);
    expect(findingMatches(all, expectedMasquerade({ ...staged, masqueradeAll: true }, null))).toBe(true);
    // NodeCIDR: each node's own pod CIDR (the fixture's ! -s 10.244.0.0/16 is the cluster's, so not node1's)
    const nodeCidr = { ...staged, detectLocalMode: 'NodeCIDR' as const };
    expect(expectedMasquerade(nodeCidr, '10.244.2.0/24')).toEqual({
      rule: true,
      notSource: '10.244.2.0/24',
      notInterface: null,
    });
    expect(findingMatches(cidr, expectedMasquerade(nodeCidr, '10.244.2.0/24'))).toBe(false);
    expect(
      expectedMasquerade({ ...staged, detectLocalMode: 'BridgeInterface', bridgeInterface: 'cbr0' }, null),
    ).toEqual({
      rule: true,
      notSource: null,
      notInterface: 'cbr0',
    });
    expect(
      expectedMasquerade({ ...staged, detectLocalMode: 'InterfaceNamePrefix', interfaceNamePrefix: 'veth' }, null),
    ).toEqual({ rule: true, notSource: null, notInterface: 'veth+' });
    // a detector given nothing to detect by cannot tell clients apart: no rule
    expect(expectedMasquerade({ ...staged, detectLocalMode: 'BridgeInterface' }, null).rule).toBe(false);
  });
});

describe("kube-proxy's masquerade rule on a kind node in nftables mode (nft list table ip kube-proxy)", () => {
  const nft = (variant: string) => findServiceMasquerade(output(`nft-list-kube-proxy-${variant}.txt`), 'nftables');

  test("the mysql Service's chain is the one kube-proxy's nftables mode derives from default/mysql/tcp/mysql", () => {
    expect(mysqlChain('nftables')).toBe('service-OHLJZKKC-default/mysql/tcp/mysql');
  });

  test('a default kind cluster masquerades clients outside the pod CIDR', () => {
    const found = nft('cluster-cidr');
    expect(found).toEqual({
      mode: 'nftables',
      chainPresent: true,
      rule: 'ip daddr 10.96.207.61 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      notSource: '10.244.0.0/16',
      notInterface: null,
    });
    expect(rulesMatch(found, config(false, '10.244.0.0/16', 'nftables'))).toBe(true);
    expect(rulesMatch(found, config(false, null, 'nftables'))).toBe(false);
    expect(describeFinding(found)).toBe('masquerades off-cluster clients (ip saddr != 10.244.0.0/16)');
  });

  test('with clusterCIDR cleared the chain has no jump to mark-for-masquerade (the incident); the hairpin rule does not count', () => {
    const text = output('nft-list-kube-proxy-none.txt');
    expect(text).toMatch(/ip saddr 10\.244\.1\.2 jump mark-for-masquerade/);
    const found = nft('none');
    expect(found).toEqual({ mode: 'nftables', chainPresent: true, rule: null, notSource: null, notInterface: null });
    expect(rulesMatch(found, config(false, null, 'nftables'))).toBe(true);
  });

  test('nftables.masqueradeAll marks every client', () => {
    const found = nft('masquerade-all');
    expect(found.rule).toBe('ip daddr 10.96.207.61 jump mark-for-masquerade');
    expect(rulesMatch(found, config(true, null, 'nftables'))).toBe(true);
    expect(rulesMatch(found, config(false, null, 'nftables'))).toBe(false);
  });

  test('the mark set inline (releases after v1.35) counts as the same rule', () => {
    const inline = output('nft-list-kube-proxy-masquerade-all.txt').replace(
      'ip daddr 10.96.207.61 jump mark-for-masquerade',
      'ip daddr 10.96.207.61 meta mark set meta mark | 0x00004000',
    );
    const found = findServiceMasquerade(inline, 'nftables');
    expect(found.rule).toBe('ip daddr 10.96.207.61 meta mark set meta mark | 0x00004000');
    expect(rulesMatch(found, config(true, null, 'nftables'))).toBe(true);
  });

  test("a node without kube-proxy's table, or iptables-save's text, does not count as synced", () => {
    for (const text of [
      output('nft-list-kube-proxy-absent.stderr'),
      output('iptables-save-nat-nft-masquerade-all.txt'),
    ]) {
      const found = findServiceMasquerade(text, 'nftables');
      expect(found.chainPresent).toBe(false);
      expect(rulesMatch(found, config(false, null, 'nftables'))).toBe(false);
    }
  });
});
