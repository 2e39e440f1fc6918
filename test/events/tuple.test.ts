import { describe, expect, test } from 'vitest';
import {
  cidrContains,
  inverse,
  ipFromRaw,
  parseCidr,
  parseIPv4,
  portFromRaw,
  tcpFlagNames,
  tupleKey,
} from '../../src/events/tuple.js';

describe('tuple helpers', () => {
  test('a raw __be32 read on a little-endian CPU is a dotted quad in wire order', () => {
    // 192.168.10.10 is c0 a8 0a 0a on the wire; read as a little-endian u32 that is 0x0a0aa8c0
    expect(ipFromRaw(0x0a0aa8c0)).toBe('192.168.10.10');
    expect(ipFromRaw(168470720)).toBe('192.168.10.10');
  });

  test('a raw __be16 port is byte-swapped', () => {
    expect(portFromRaw(0x0050 << 8)).toBe(80); // 0x5000 as read
    expect(portFromRaw(3072)).toBe(12); // 0x0c00 → 12
    expect(portFromRaw(0xea0c)).toBe(0x0cea); // 3306
  });

  test('TCP flag bytes name SYN-ACK as the vpn sees the mysql reply', () => {
    expect(tcpFlagNames(0x12)).toEqual(['SYN', 'ACK']);
    expect(tcpFlagNames(0x02)).toEqual(['SYN']);
    expect(tcpFlagNames(0x14)).toEqual(['ACK', 'RST']);
    // named once per byte and shared: a caller cannot change another event's flags
    expect(tcpFlagNames(0x12)).toBe(tcpFlagNames(0x12));
    expect(Object.isFrozen(tcpFlagNames(0x12))).toBe(true);
  });

  test('inverse swaps both ends, and keys differ by direction', () => {
    const t = { src: '192.168.10.10', sport: 5000, dst: '10.96.207.61', dport: 3306 };
    expect(inverse(t)).toEqual({ src: '10.96.207.61', sport: 3306, dst: '192.168.10.10', dport: 5000 });
    expect(tupleKey('tcp', t)).not.toBe(tupleKey('tcp', inverse(t)));
  });

  test('CIDRs parse only in canonical form and test membership', () => {
    const c = parseCidr('10.244.0.0/16');
    expect(c).not.toBeNull();
    expect(cidrContains(c!, '10.244.2.2')).toBe(true);
    expect(cidrContains(c!, '10.96.0.1')).toBe(false);
    expect(parseCidr('10.244.0.1/16')).toBeNull(); // host bits set
    expect(parseCidr('10.244.0.0/33')).toBeNull();
    expect(parseCidr('10.244.0.0')).toBeNull();
    expect(parseCidr('300.1.1.1/8')).toBeNull();
    expect(parseCidr('0.0.0.0/0')).not.toBeNull();
    // iptables would read 010 as octal 8: a different network from the one shown
    expect(parseCidr('010.244.0.0/16')).toBeNull();
    expect(parseCidr('10.244.0.0/016')).toBeNull();
  });

  test('an address is accepted only in canonical dotted-quad form', () => {
    expect(parseIPv4('10.244.2.2')).toBe(0x0af40202);
    expect(parseIPv4('0.0.0.0')).toBe(0);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of [
      '010.1.1.1',
      '10.01.1.1',
      '1.2.3.256',
      '999.999.1.1',
      '1.2.3',
      '1.2.3.4.5',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '0x0a.1.1.1',
      '+1.2.3.4',
      '',
    ]) {
      expect(parseIPv4(bad), bad).toBeNull();
    }
  });
});
