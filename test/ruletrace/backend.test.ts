import { describe, expect, test } from 'vitest';
import { NatscopeError } from '../../src/errors.js';
import { requireTraceableRules } from '../../src/ruletrace/backend.js';

describe('rule tracing needs rules nftrace reports', () => {
  test('iptables-nft rules and nftables mode pass', () => {
    expect(() => requireTraceableRules('nft', 'iptables', 'this lab', 'fix')).not.toThrow();
    expect(() => requireTraceableRules('legacy', 'nftables', 'this lab', 'fix')).not.toThrow();
  });

  test('iptables-legacy rules in iptables mode are refused with the fix given, exit 2', () => {
    const e = (() => {
      try {
        requireTraceableRules('legacy', 'iptables', 'this lab', 'natscope lab up --proxy-mode nftables');
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(NatscopeError);
    expect(e).toMatchObject({
      message:
        "kube-proxy's rules on this lab are iptables-legacy rules, which the kernel's rule tracing (nftrace) does not report",
      hint: 'natscope lab up --proxy-mode nftables',
      exitCode: 2,
    });
  });
});
