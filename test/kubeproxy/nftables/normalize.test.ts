import { describe, expect, test } from 'vitest';
import { normalizeNftables } from '../../../src/kubeproxy/nftables/normalize.js';

describe("normalizing a ruleset the way kube-proxy's nftables tests do", () => {
  test('tables, chains, rules, sets, maps, elements; by name; comments and blank lines gone', () => {
    const raw = [
      '# svc1',
      'add element ip kube-proxy cluster-ips { 172.30.0.42 }',
      'add element ip kube-proxy cluster-ips { 172.30.0.41 }',
      '',
      'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
      'add set ip kube-proxy cluster-ips { type ipv4_addr ; }',
      'add rule ip kube-proxy services jump b',
      'add chain ip kube-proxy services',
      'add chain ip kube-proxy masquerading',
      'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
    ].join('\n');
    expect(normalizeNftables(raw).split('\n')).toEqual([
      'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
      'add chain ip kube-proxy masquerading',
      'add chain ip kube-proxy services',
      'add rule ip kube-proxy services jump b',
      'add set ip kube-proxy cluster-ips { type ipv4_addr ; }',
      'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
      'add element ip kube-proxy cluster-ips { 172.30.0.41 }',
      'add element ip kube-proxy cluster-ips { 172.30.0.42 }',
    ]);
  });

  test("a chain's rules keep their order: it is what the packet meets", () => {
    const raw = ['add rule ip kube-proxy c z-last', 'add rule ip kube-proxy b x', 'add rule ip kube-proxy c a-first'];
    expect(normalizeNftables(raw.join('\n')).split('\n')).toEqual([
      'add rule ip kube-proxy b x',
      'add rule ip kube-proxy c z-last',
      'add rule ip kube-proxy c a-first',
    ]);
  });

  test('two rulesets that differ only in rule order inside a chain are not equal', () => {
    const a = 'add rule ip kube-proxy c drop\nadd rule ip kube-proxy c accept';
    const b = 'add rule ip kube-proxy c accept\nadd rule ip kube-proxy c drop';
    expect(normalizeNftables(a)).not.toBe(normalizeNftables(b));
  });
});
