import { describe, expect, test } from 'vitest';
import { tracedRules } from '../../src/ruletrace/backend.js';

describe('which rule tracing reads a lab', () => {
  test("nftrace for nftables rules: nftables mode (kube-proxy's own table, whatever iptables is) and iptables-nft", () => {
    expect(tracedRules('nft', 'iptables')).toBe('nftables');
    expect(tracedRules('nft', 'nftables')).toBe('nftables');
    expect(tracedRules('legacy', 'nftables')).toBe('nftables');
  });

  test("xt TRACE for iptables mode's rules on iptables-legacy", () => {
    expect(tracedRules('legacy', 'iptables')).toBe('iptables-legacy');
  });
});
