// natscope's trace table: what it marks for tracing, and the readiness
// probe's records it leaves out.

import { describe, expect, test } from 'vitest';
import { NatscopeError } from '../../src/errors.js';
import {
  READY_CHAIN,
  TRACE_PRIORITY,
  TRACE_TABLE,
  flowMatches,
  traceTableScript,
  isProbe,
  packetsOf,
} from '../../src/ruletrace/traceTable.js';

const FLOW = {
  client: '192.168.10.10',
  clientPort: 23456,
  masqueradedLeg: { node: '10.0.1.11', endpoint: '10.244.2.2', endpointPort: 3306 },
};

describe('the trace table', () => {
  test('marks the client’s flow both ways, and the masqueraded leg to the endpoint both ways', () => {
    expect(flowMatches(FLOW)).toEqual([
      'ip saddr 192.168.10.10 tcp sport 23456',
      'ip daddr 192.168.10.10 tcp dport 23456',
      'ip saddr 10.0.1.11 ip daddr 10.244.2.2 tcp dport 3306',
      'ip saddr 10.244.2.2 tcp sport 3306 ip daddr 10.0.1.11',
    ]);
  });

  test('marks only the client’s flow for a request to a pod', () => {
    expect(flowMatches({ ...FLOW, masqueradedLeg: null })).toHaveLength(2);
  });

  test('hooks prerouting and output below raw’s priority and replaces a table a killed run left', () => {
    const script = traceTableScript(FLOW);
    expect(TRACE_PRIORITY).toBeLessThan(-300);
    expect(script).toContain(`type filter hook prerouting priority ${TRACE_PRIORITY};`);
    expect(script).toContain(`type filter hook output priority ${TRACE_PRIORITY};`);
    expect(script.indexOf(`delete table ip ${TRACE_TABLE}`)).toBeLessThan(script.indexOf(`table ip ${TRACE_TABLE} {`));
    // every rule that sets the bit carries one of the flow's matches (or is the readiness probe)
    for (const line of script.split('\n').filter((l) => l.includes('nftrace set 1'))) {
      expect(line.includes('127.0.0.2') || flowMatches(FLOW).some((m) => line.includes(m))).toBe(true);
    }
  });

  test('refuses a port or an address that is not one, so nothing but numbers and addresses reach nft', () => {
    expect(() => traceTableScript({ ...FLOW, clientPort: 0 })).toThrow(NatscopeError);
    expect(() => traceTableScript({ ...FLOW, clientPort: 70000 })).toThrow(NatscopeError);
    expect(() => traceTableScript({ ...FLOW, client: '1.2.3.4; flush ruleset' })).toThrow(NatscopeError);
    expect(() => traceTableScript({ ...FLOW, masqueradedLeg: { ...FLOW.masqueradedLeg, endpoint: 'x' } })).toThrow(
      NatscopeError,
    );
  });

  test('a packet starts where natscope’s chain reports it, so a later packet with the same trace id is a packet of its own', () => {
    const at = (id: string, table: string, chain: string, kind: string) => ({ id, table, chain, kind });
    const records = [
      at('aaaaaaaa', TRACE_TABLE, 'output', 'packet'),
      at('bbbbbbbb', TRACE_TABLE, 'output', 'packet'),
      at('aaaaaaaa', 'nat', 'OUTPUT', 'rule'),
      at('aaaaaaaa', TRACE_TABLE, 'output', 'packet'),
      at('aaaaaaaa', 'filter', 'OUTPUT', 'policy'),
      at('cccccccc', 'nat', 'POSTROUTING', 'rule'),
    ];
    expect(packetsOf(records).map((p) => p.map((r) => `${r.id.slice(0, 1)}:${r.chain}`))).toEqual([
      ['a:output', 'a:OUTPUT'],
      ['b:output'],
      ['a:output', 'a:OUTPUT'],
      ['c:POSTROUTING'],
    ]);
  });

  test('a readiness probe is known by its chain, or by its address once it loops back through lo', () => {
    expect(isProbe([{ table: TRACE_TABLE, chain: READY_CHAIN, kind: 'rule' }])).toBe(true);
    const packet = (daddr: string) => ({ table: TRACE_TABLE, chain: 'prerouting', kind: 'packet', packet: { daddr } });
    expect(isProbe([packet('127.0.0.2')])).toBe(true);
    expect(isProbe([packet('10.96.207.61')])).toBe(false);
  });
});
