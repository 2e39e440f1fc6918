import { describe, expect, test } from 'vitest';
import { base32, endpointChain, serviceChain, servicePortName } from '../../src/kubeproxy/chains.js';

describe("kube-proxy's chain names", () => {
  test('known values from kube-proxy', () => {
    const svc1 = { namespace: 'ns1', name: 'svc1', portName: 'p80', protocol: 'TCP' };
    expect(serviceChain(svc1)).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(endpointChain(svc1, '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(serviceChain({ namespace: 'default', name: 'kubernetes', portName: 'https', protocol: 'TCP' })).toBe(
      'KUBE-SVC-NPX46M4PTMTKRN6Y',
    );
    expect(serviceChain({ namespace: 'kube-system', name: 'kube-dns', portName: 'dns', protocol: 'UDP' })).toBe(
      'KUBE-SVC-TCOU7JCQXEZGVUNU',
    );
  });

  test('an unnamed port has no colon in the hashed name', () => {
    const p = { namespace: 'ns1', name: 'svc1', portName: '', protocol: 'TCP' };
    expect(servicePortName(p)).toBe('ns1/svc1');
    expect(serviceChain(p)).toBe('KUBE-SVC-AQI2S6QIMU7PVVRP');
    expect(endpointChain(p, '10.0.1.1:80')).toBe('KUBE-SEP-3JOIVZTXZZRGORX4');
  });

  test('the protocol is hashed lower-case', () => {
    expect(serviceChain({ namespace: 'ns1', name: 'svc1', portName: 'p80', protocol: 'SCTP' })).toBe(
      'KUBE-SVC-GFCIFIA5VTFSTMSM',
    );
  });

  test('base32 is RFC 4648 (Go StdEncoding alphabet)', () => {
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(base32(Buffer.from('f'))).toBe('MY');
  });
});
