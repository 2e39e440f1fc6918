import { describe, expect, test } from 'vitest';
import {
  endpointChainBase,
  endpointChainName,
  serviceChainName,
  servicePortChainBase,
} from '../../../src/kubeproxy/nftables/names.js';

// Known values from kube-proxy's Test_servicePortChainNameBase and
// Test_servicePortEndpointChainNameBase (pkg/proxy/nftables/proxier_test.go).
const testing = (portName: string, protocol = 'TCP') => ({ namespace: 'testing', name: 'service', portName, protocol });
const LONG = {
  namespace: 'very-long-namespace-name-abcdefghijklmnopqrstuvwxyz0123456789xx',
  name: 'very-long-service-name-why-would-you-even-do-this-i-mean-really',
  portName: 'port-443-providing-the-hypertext-transmission-protocol-with-tls',
  protocol: 'SCTP',
};
const LONG_BASE = `${LONG.namespace}/${LONG.name}/sctp/${LONG.portName}`;

describe("kube-proxy's nftables chain names", () => {
  test('a service port: hash, then namespace/name/protocol/port', () => {
    expect(servicePortChainBase(testing('http'))).toBe('P4ZYZVCF-testing/service/tcp/http');
    expect(servicePortChainBase(testing('https'))).toBe('LZBRENCP-testing/service/tcp/https');
  });

  test('the longest service port name still fits without truncation', () => {
    expect(servicePortChainBase(LONG)).toBe(`KR6NACJP-${LONG_BASE}`);
  });

  test('an endpoint: "__ip/port" after the service part, a different hash per endpoint', () => {
    expect(endpointChainBase(testing('http'), '10.180.0.1:80')).toBe(
      'JO2XBXZR-testing/service/tcp/http__10.180.0.1/80',
    );
    expect(endpointChainBase(testing('http'), '10.180.0.2:80')).toBe(
      '5S6H3H22-testing/service/tcp/http__10.180.0.2/80',
    );
  });

  test("an IPv6 endpoint's colons become dots", () => {
    expect(endpointChainBase(testing('http'), '[fd80:abcd:12::a1b2:c3d4:e5f6:9999]:80')).toBe(
      'U7E2ET36-testing/service/tcp/http__fd80.abcd.12..a1b2.c3d4.e5f6.9999/80',
    );
  });

  test('a name longer than 240 characters is cut to 237 and "..."; the hash still tells them apart', () => {
    expect(endpointChainBase(LONG, '[1234:5678:9abc:def0::abc:1234]:443')).toBe(
      `5YS7AFEA-${LONG_BASE}__1234.5678.9abc.def0..abc.1234/443`,
    );
    const cut1 = endpointChainBase(LONG, '[1234:5678:9abc:def0::abcd:1234:5678]:443');
    const cut2 = endpointChainBase(LONG, '[1234:5678:9abc:def0::abcd:1234:8765]:443');
    expect(cut1).toBe(`CI6C53Q3-${LONG_BASE}__1234.5678.9abc.def0..abcd.1234...`);
    expect(cut2).toBe(`2FLXFK6X-${LONG_BASE}__1234.5678.9abc.def0..abcd.1234...`);
    expect(cut1).toHaveLength(240);
  });

  test('full chain names as TestOverallNFTablesRules expects them', () => {
    const svc1 = { namespace: 'ns1', name: 'svc1', portName: 'p80', protocol: 'TCP' };
    expect(serviceChainName(svc1)).toBe('service-ULMVA6XW-ns1/svc1/tcp/p80');
    expect(endpointChainName(svc1, '10.180.0.1:80')).toBe('endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
    const svc4 = { namespace: 'ns4', name: 'svc4', portName: 'p80', protocol: 'TCP' };
    expect(serviceChainName(svc4)).toBe('service-LAUZTJTB-ns4/svc4/tcp/p80');
    expect(endpointChainName(svc4, '10.180.0.5:80')).toBe('endpoint-5RFCDDV7-ns4/svc4/tcp/p80__10.180.0.5/80');
  });

  test('an unnamed port leaves the last part empty', () => {
    expect(servicePortChainBase({ namespace: 'ns1', name: 'svc1', portName: '', protocol: 'TCP' })).toMatch(
      /^[A-Z2-7]{8}-ns1\/svc1\/tcp\/$/,
    );
  });

  test('a string that is not ip:port is refused', () => {
    expect(() => endpointChainBase(testing('http'), '10.0.0.1')).toThrow(/not an endpoint address/);
  });
});
