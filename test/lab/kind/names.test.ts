import { describe, expect, test } from 'vitest';
import { parseCidr } from '../../../src/events/tuple.js';
import { kindNames, networkOf, officeCidrFromEnv, officePlan, overlaps } from '../../../src/lab/kind/names.js';

describe('kind lab names and office addresses', () => {
  test('the cluster is named after the prefix, and kind names its nodes after the cluster', () => {
    expect(kindNames('natscope-')).toEqual({
      prefix: 'natscope-',
      cluster: 'natscope',
      controlPlane: 'natscope-control-plane',
      office: 'natscope-office',
      vpn: 'natscope-vpn',
      officeNetwork: 'natscope-office',
    });
    expect(kindNames('ws2-').cluster).toBe('ws2');
  });

  test('a prefix that cannot name containers is refused as bad input', () => {
    expect(() => kindNames('Bad Prefix')).toThrow(/invalid prefix/);
  });

  test("the office plan puts the vpn at .1, the client at .10 and Docker's gateway at the end, as in the incident", () => {
    expect(officePlan('192.168.10.0/24')).toEqual({
      cidr: '192.168.10.0/24',
      vpn: '192.168.10.1',
      client: '192.168.10.10',
      loadSources: ['192.168.10.20', '192.168.10.21', '192.168.10.22', '192.168.10.23'],
      gateway: '192.168.10.254',
      ipRange: '192.168.10.128/25',
    });
    expect(officePlan('10.77.0.0/16').gateway).toBe('10.77.255.254');
  });

  test('an office CIDR that is not a /16 to /24 network is refused with the fix', () => {
    for (const bad of ['192.168.10.1/24', '192.168.10.0/28', '10.0.0.0/8', 'office']) {
      expect(() => officePlan(bad)).toThrow(/invalid office CIDR/);
    }
  });

  test('NATSCOPE_KIND_OFFICE_CIDR chooses another office network', () => {
    expect(officeCidrFromEnv({})).toBe('192.168.10.0/24');
    expect(officeCidrFromEnv({ NATSCOPE_KIND_OFFICE_CIDR: '192.168.77.0/24' })).toBe('192.168.77.0/24');
  });

  test('networks overlap when either contains the other', () => {
    const c = (t: string) => parseCidr(t)!;
    expect(overlaps(c('192.168.0.0/16'), c('192.168.10.0/24'))).toBe(true);
    expect(overlaps(c('192.168.10.0/24'), c('192.168.0.0/20'))).toBe(true);
    expect(overlaps(c('192.168.16.0/20'), c('192.168.10.0/24'))).toBe(false);
    expect(networkOf('172.18.0.1/16')?.text).toBe('172.18.0.0/16');
  });

  test('interface addresses are read as strictly as every other address', () => {
    for (const bad of [
      '172.018.0.1/16',
      '172.18.0.1/016',
      '172.18.0.1/33',
      '172.18.0.1',
      '172.18.0.1/16/1',
      '172.18.0.1/ 16',
    ])
      expect(networkOf(bad)).toBeNull();
    expect(networkOf('10.1.2.3/0')?.text).toBe('0.0.0.0/0');
  });

  test('an office CIDR with a leading zero is refused: Docker and ip would read it differently', () => {
    expect(() => officePlan('192.168.010.0/24')).toThrow(/invalid office CIDR "192\.168\.010\.0\/24"/);
  });
});
