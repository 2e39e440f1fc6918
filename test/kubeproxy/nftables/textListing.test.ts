// Reading kube-proxy's table as `nft list table ip kube-proxy` printed it in
// a real run (node1's listing in the nftables-mode recording, masqueradeAll
// on), and comparing two listings chain by chain.

import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  chainText,
  endpointChainsOf,
  listingChanges,
  parseNftListing,
  serviceChainOf,
} from '../../../src/kubeproxy/nftables/textListing.js';
import { FIXTURES, recordedEvents } from '../../helpers.js';

const RECORDING = join(FIXTURES, 'recordings', 'incident-nftables.jsonl');

function node1Listing(): string {
  const e = recordedEvents(RECORDING).find((x) => x.kind === 'observation' && x.what === 'rules');
  if (e?.kind !== 'observation' || typeof e.result !== 'string') throw new Error('no rules observation');
  return e.result;
}

describe('a listing of table ip kube-proxy', () => {
  const listing = parseNftListing(node1Listing());

  test("holds every chain kube-proxy writes, a base chain's rules without its type line", () => {
    for (const c of ['services', 'masquerading', 'mark-for-masquerade', 'cluster-ips-check', 'nat-prerouting'])
      expect(listing.chains.has(c)).toBe(true);
    expect(listing.chains.get('nat-prerouting')).toEqual(['jump services']);
    expect(listing.chains.get('masquerading')).toEqual([
      'meta mark & 0x00004000 == 0x00000000 return',
      'meta mark set meta mark ^ 0x00004000',
      'masquerade fully-random',
    ]);
  });

  test("names mysql's service and endpoint chains, and reads a set's and a map's elements", () => {
    expect(serviceChainOf(listing, 'default', 'mysql')).toBe('service-OHLJZKKC-default/mysql/tcp/mysql');
    expect(endpointChainsOf(listing, 'default', 'mysql')).toEqual([
      'endpoint-ERCIK6OT-default/mysql/tcp/mysql__10.244.2.2/3306',
    ]);
    expect(serviceChainOf(listing, 'default', 'redis')).toBeNull();
    expect(listing.elements.get('cluster-ips')).toEqual(['10.96.48.29', '10.96.207.61']);
    // an element list over two lines
    expect(listing.elements.get('service-ips')).toEqual([
      '10.96.48.29 . tcp . 80 : goto service-2ETI3MDI-default/nginx/tcp/http',
      '10.96.207.61 . tcp . 3306 : goto service-OHLJZKKC-default/mysql/tcp/mysql',
    ]);
    expect(listing.elements.get('no-endpoint-services')).toEqual([]);
  });

  test('a chain is printed back as nft prints it, indented', () => {
    expect(chainText(listing, 'mark-for-masquerade', '  ')).toEqual([
      '  chain mark-for-masquerade {',
      '      meta mark set meta mark | 0x00004000',
      '  }',
    ]);
    expect(chainText(listing, 'no-such-chain')).toEqual([]);
  });

  test('two listings differ by the rules each chain gained and lost', () => {
    // the same table without masqueradeAll's first rule in each service chain
    const without = parseNftListing(
      node1Listing()
        .split('\n')
        .filter((l) => !/^\s*ip daddr 10\.96\.\S+ jump mark-for-masquerade$/.test(l))
        .join('\n'),
    );
    const { added, removed } = listingChanges(without, listing);
    expect(removed).toEqual([]);
    expect(added).toEqual([
      { chain: 'service-OHLJZKKC-default/mysql/tcp/mysql', rule: 'ip daddr 10.96.207.61 jump mark-for-masquerade' },
      { chain: 'service-2ETI3MDI-default/nginx/tcp/http', rule: 'ip daddr 10.96.48.29 jump mark-for-masquerade' },
    ]);
    expect(listingChanges(listing, without).removed).toEqual(added);
  });

  test('text that is not a listing reads as an empty table', () => {
    const junk = parseNftListing('nft: command not found\n}\n\tchain\n');
    expect(junk.chains.size).toBe(0);
    expect(junk.elements.size).toBe(0);
  });
});
