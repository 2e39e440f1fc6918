import { describe, expect, it } from 'vitest';
import { explainDrop } from '../../tui/explain.js';
import { incidentEvents } from './fixture.js';

describe('explainDrop', () => {
  it("says what the vpn's NETFILTER_DROP of a SYN-ACK means in the incident", () => {
    const drop = incidentEvents().find((e) => e.kind === 'drop' && e.host === 'vpn')!;
    if (drop.kind !== 'drop') throw new Error('no drop');
    expect(explainDrop(drop)).toBe('a reply the VPN never saw a request for');
  });

  it('explains a netfilter drop elsewhere in general terms, and unknown reasons by their name', () => {
    const packet = { proto: 'tcp' as const, src: 'a', dst: 'b', sport: 1, dport: 2, flags: ['SYN'] };
    expect(explainDrop({ reason: 'NETFILTER_DROP', host: 'node1', packet })).toContain('rule dropped it');
    expect(explainDrop({ reason: 'SOME_NEW_REASON', host: 'node1', packet })).toBe('some new reason');
  });
});
