import { describe, expect, test } from 'vitest';
import { normalizeRestore, parseRestore } from '../../src/kubeproxy/normalize.js';

describe("normalizing a payload the way kube-proxy's tests do", () => {
  const raw = [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    ':KUBE-SVC-B - [0:0]',
    ':KUBE-SVC-A - [0:0]',
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
    '-A KUBE-SERVICES -m comment --comment "ns2/b:p cluster IP" -j KUBE-SVC-B',
    '-A KUBE-SERVICES -m comment --comment "ns1/a:p cluster IP" -j KUBE-SVC-A',
    '-A KUBE-SVC-B -j X2',
    '-A KUBE-SVC-B -j X1',
    'COMMIT',
    '*filter',
    ':KUBE-FORWARD - [0:0]',
    'COMMIT',
    '',
  ].join('\n');

  test('tables by name, chains NODEPORTS, SERVICES, then by name; services by comment; the last rule last', () => {
    expect(normalizeRestore(raw)).toBe(
      [
        '*filter',
        ':KUBE-FORWARD - [0:0]',
        'COMMIT',
        '*nat',
        ':KUBE-NODEPORTS - [0:0]',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-SVC-A - [0:0]',
        ':KUBE-SVC-B - [0:0]',
        '-A KUBE-SERVICES -m comment --comment "ns1/a:p cluster IP" -j KUBE-SVC-A',
        '-A KUBE-SERVICES -m comment --comment "ns2/b:p cluster IP" -j KUBE-SVC-B',
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS',
        '-A KUBE-SVC-B -j X2',
        '-A KUBE-SVC-B -j X1',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  test('a line that is not restore syntax is refused', () => {
    expect(() => parseRestore('*nat\n-I PREROUTING -j X\nCOMMIT\n')).toThrow(/unexpected line/);
  });
});
