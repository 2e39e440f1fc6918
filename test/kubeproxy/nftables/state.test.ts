import { describe, expect, test } from 'vitest';
import { add, del, flush, type Operation } from '../../../src/kubeproxy/nftables/objects.js';
import { applyOperations, dumpState } from '../../../src/kubeproxy/nftables/state.js';

const table = add({ kind: 'table', comment: 'rules for kube-proxy' });
const chain = (name: string) => ({ kind: 'chain' as const, name });
const rule = (c: string, r: string): Operation => add({ kind: 'rule', chain: c, rule: r });

describe('applying a transaction as nft does', () => {
  test('flush empties a chain and delete removes it; rules added after a flush stay', () => {
    const s = applyOperations([
      table,
      add(chain('a')),
      rule('a', 'drop'),
      flush(chain('a')),
      rule('a', 'accept'),
      add(chain('b')),
      del(chain('b')),
    ]);
    expect(dumpState(s)).toBe(
      [
        'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
        'add chain ip kube-proxy a',
        'add rule ip kube-proxy a accept',
        '',
      ].join('\n'),
    );
  });

  test('adding an existing chain again keeps its rules (it is "add", not "create")', () => {
    const s = applyOperations([table, add(chain('a')), rule('a', 'drop'), add(chain('a'))]);
    expect(s.chains.get('a')?.rules).toHaveLength(1);
  });

  test('what nft refuses is refused: a rule without its chain, an element without its set', () => {
    expect(() => applyOperations([table, rule('nowhere', 'drop')])).toThrow(/no such chain/);
    expect(() =>
      applyOperations([table, add({ kind: 'element', container: 'cluster-ips', key: ['10.0.0.1'] })]),
    ).toThrow(/no such set or map/);
    expect(() => applyOperations([add(chain('a'))])).toThrow(/no such table/);
    expect(() => applyOperations([table, flush(chain('a'))])).toThrow(/no such chain/);
  });

  test('a base chain cannot change its priority, and a map element needs a value', () => {
    const hooked = (priority: number) =>
      add({ kind: 'chain', name: 'nat-output', base: { type: 'nat', hook: 'output', priority } });
    expect(() => applyOperations([table, hooked(-100), hooked(-90)])).toThrow(/hook or priority/);
    const map = add({ kind: 'map', name: 'm', type: 'ipv4_addr : verdict' });
    expect(() => applyOperations([table, map, add({ kind: 'element', container: 'm', key: ['10.0.0.1'] })])).toThrow(
      /needs a value/,
    );
  });

  test('the dump lists the table, chains, sets and maps before the rules and elements that use them', () => {
    const s = applyOperations([
      table,
      add({ kind: 'set', name: 'cluster-ips', type: 'ipv4_addr', comment: 'Active ClusterIPs' }),
      add(chain('cluster-ips-check')),
      rule('cluster-ips-check', 'ip daddr @cluster-ips reject'),
      add({ kind: 'element', container: 'cluster-ips', key: ['10.96.0.10'] }),
    ]);
    expect(dumpState(s).trim().split('\n')).toEqual([
      'add table ip kube-proxy { comment "rules for kube-proxy" ; }',
      'add chain ip kube-proxy cluster-ips-check',
      'add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }',
      'add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject',
      'add element ip kube-proxy cluster-ips { 10.96.0.10 }',
    ]);
  });
});
