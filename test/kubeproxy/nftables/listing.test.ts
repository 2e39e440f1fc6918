import { describe, expect, test } from 'vitest';
import { outlineOfListing, outlineOfState } from '../../../src/kubeproxy/nftables/listing.js';
import { applyOperations } from '../../../src/kubeproxy/nftables/state.js';
import { type NftablesProxyOptions, syncOperations } from '../../../src/kubeproxy/nftables/sync.js';
import { servicePorts } from '../../../src/lab/netns/topology.js';
import { fixtureText } from '../../helpers.js';

// The options the captured listing was loaded with (see the fixtures' README).
const NODE1: NftablesProxyOptions = {
  masqueradeAll: false,
  clusterCIDR: '10.244.0.0/16',
  nodePortIPs: ['10.0.1.11'],
  serviceCIDRs: ['10.96.0.0/16'],
};
const listing = () => outlineOfListing(fixtureText('kubeproxy', 'nftables', 'nft-list-lab-node1.json'));
const model = (o: NftablesProxyOptions) => outlineOfState(applyOperations(syncOperations(servicePorts(), o)));

describe('reading back what nft holds', () => {
  test("the kernel's table, as nft -j listed it, has the model's outline", () => {
    expect(listing()).toEqual(model(NODE1));
  });

  test('the outline tells the options apart: masqueradeAll, no cluster CIDR, another node', () => {
    expect(listing()).not.toEqual(model({ ...NODE1, masqueradeAll: true }));
    expect(listing()).not.toEqual(model({ ...NODE1, clusterCIDR: null }));
    expect(listing()).not.toEqual(model({ ...NODE1, nodePortIPs: ['10.0.1.12'] }));
  });

  test("a service chain's outline: its address matches, where it jumps, what it does", () => {
    expect(listing().chains['service-OHLJZKKC-default/mysql/tcp/mysql']?.rules[0]).toEqual({
      matches: ['ip daddr 10.96.207.61', 'ip saddr != 10.244.0.0/16'],
      targets: ['mark-for-masquerade'],
      dnat: null,
      actions: [],
      comment: null,
    });
    expect(listing().chains['endpoint-ERCIK6OT-default/mysql/tcp/mysql__10.244.2.2/3306']?.rules[1]?.dnat).toBe(
      '10.244.2.2:3306',
    );
    expect(listing().chains['nat-output']?.base).toEqual({ type: 'nat', hook: 'output', priority: -100 });
  });

  test('output that is not nft -j JSON is refused', () => {
    expect(() => outlineOfListing('{"tables": []}')).toThrow(/no "nftables" list/);
    expect(() => outlineOfListing('{"nftables": [{"rule": {"chain": "x", "expr": []}}]}')).toThrow(/unknown chain/);
  });
});
