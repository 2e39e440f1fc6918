import { describe, expect, test } from 'vitest';
import {
  backendOf,
  describeFinding,
  findServiceMasquerade,
  mysqlChain,
  rulesMatch,
} from '../../../src/lab/kind/rules.js';
import { output } from './fakes.js';

const config = (masqueradeAll: boolean, clusterCIDR: string | null) => ({
  mode: 'iptables' as const,
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
      expect(found).toEqual({ chainPresent: true, rule: null, notSource: null });
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
});
