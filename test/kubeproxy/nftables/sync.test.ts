import { describe, expect, test } from 'vitest';
import { NatscopeError } from '../../../src/errors.js';
import { operationText } from '../../../src/kubeproxy/nftables/objects.js';
import { renderTable, renderTransaction } from '../../../src/kubeproxy/nftables/render.js';
import {
  BASE_CHAINS,
  masqueradeRule,
  type NftablesProxyOptions,
  syncOperations,
  usableEndpoints,
} from '../../../src/kubeproxy/nftables/sync.js';
import type { ServicePort } from '../../../src/kubeproxy/rules.js';

const mysql: ServicePort = {
  namespace: 'default',
  name: 'mysql',
  portName: 'mysql',
  protocol: 'TCP',
  clusterIP: '10.96.207.61',
  port: 3306,
  endpoints: [{ ip: '10.244.2.2', port: 3306 }],
};
// the lab's node1, as the incident has it: no masqueradeAll, no cluster CIDR
const INCIDENT: NftablesProxyOptions = {
  masqueradeAll: false,
  clusterCIDR: null,
  nodePortIPs: ['10.0.1.11'],
  serviceCIDRs: ['10.96.0.0/16'],
};
const SERVICE_CHAIN = 'service-OHLJZKKC-default/mysql/tcp/mysql';
const serviceChainRules = (o: NftablesProxyOptions) =>
  renderTable([mysql], o)
    .split('\n')
    .filter((l) => l.startsWith(`add rule ip kube-proxy ${SERVICE_CHAIN} `))
    .map((l) => l.slice(`add rule ip kube-proxy ${SERVICE_CHAIN} `.length));

describe('the masquerade rule: what the incident turns on', () => {
  test('no cluster CIDR and no masqueradeAll: the service chain only picks an endpoint (the incident)', () => {
    expect(masqueradeRule(mysql, INCIDENT)).toBeNull();
    expect(serviceChainRules(INCIDENT)).toEqual([
      'numgen random mod 1 vmap { 0 : goto endpoint-ERCIK6OT-default/mysql/tcp/mysql__10.244.2.2/3306 }',
    ]);
  });

  test('a cluster CIDR: traffic from outside it is marked first (the local-traffic detector)', () => {
    expect(serviceChainRules({ ...INCIDENT, clusterCIDR: '10.244.0.0/16' })[0]).toBe(
      'ip daddr 10.96.207.61 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
    );
  });

  // kube-proxy's tests check masqueradeAll by tracing packets, with no expected
  // ruleset; the rule is the ClusterIP match of the CIDR case without the source match.
  test('masqueradeAll: every packet to the ClusterIP is marked, whatever its source', () => {
    const rules = serviceChainRules({ ...INCIDENT, masqueradeAll: true, clusterCIDR: '10.244.0.0/16' });
    expect(rules[0]).toBe('ip daddr 10.96.207.61 jump mark-for-masquerade');
    expect(rules).toHaveLength(2);
  });

  test('the real proxier formats the mark with %#08x, the test proxier writes 0x4000', () => {
    const real = renderTable([mysql], INCIDENT);
    expect(real).toContain('add rule ip kube-proxy mark-for-masquerade mark set mark or 0x00004000');
    expect(real).toContain('add rule ip kube-proxy masquerading mark and 0x00004000 == 0 return');
    const test = renderTable([mysql], { ...INCIDENT, markStyle: 'test', masqueradeBit: 15 });
    expect(test).toContain('add rule ip kube-proxy mark-for-masquerade mark set mark or 0x8000');
  });

  test('the hairpin rule marks a pod that reaches its own Service, whatever the options', () => {
    expect(renderTable([mysql], INCIDENT)).toContain(
      'add rule ip kube-proxy endpoint-ERCIK6OT-default/mysql/tcp/mysql__10.244.2.2/3306 ip saddr 10.244.2.2 jump mark-for-masquerade',
    );
  });
});

describe('the cluster-IP checks', () => {
  test('other ports of a ClusterIP are rejected; unallocated addresses of the Service CIDR dropped', () => {
    const t = renderTable([mysql], INCIDENT);
    expect(t).toContain('add element ip kube-proxy cluster-ips { 10.96.207.61 }');
    expect(t).toContain(
      'add rule ip kube-proxy cluster-ips-check ip daddr { 10.96.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"',
    );
  });

  test('without a known Service CIDR there is no drop rule, only the reject', () => {
    const rules = renderTable([mysql], { ...INCIDENT, serviceCIDRs: [] })
      .split('\n')
      .filter((l) => l.startsWith('add rule ip kube-proxy cluster-ips-check'));
    expect(rules).toEqual([
      'add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"',
    ]);
  });

  test('several Service CIDRs share one anonymous set', () => {
    expect(renderTable([mysql], { ...INCIDENT, serviceCIDRs: ['10.96.0.0/16', '10.97.0.0/16'] })).toContain(
      'cluster-ips-check ip daddr { 10.96.0.0/16,10.97.0.0/16 } drop',
    );
  });
});

describe('endpoints', () => {
  test('not-ready endpoints are left out, duplicates once, sorted as strings', () => {
    const svc: ServicePort = {
      ...mysql,
      endpoints: [
        { ip: '10.0.0.2', port: 80 },
        { ip: '10.0.0.10', port: 80 },
        { ip: '10.0.0.2', port: 80 },
        { ip: '10.0.0.3', port: 80, ready: false },
      ],
    };
    expect(usableEndpoints(svc)).toEqual(['10.0.0.10:80', '10.0.0.2:80']);
  });

  test('a service whose endpoints are all not ready is rejected like one without endpoints', () => {
    const t = renderTable([{ ...mysql, endpoints: [{ ip: '10.244.2.2', port: 3306, ready: false }] }], INCIDENT);
    expect(t).toContain(
      'add element ip kube-proxy no-endpoint-services { 10.96.207.61 . tcp . 3306 comment "default/mysql:mysql" : goto reject-chain }',
    );
    expect(t).not.toContain(SERVICE_CHAIN);
  });
});

describe('the transaction', () => {
  const ops = syncOperations([mysql], INCIDENT);
  const text = renderTransaction([mysql], INCIDENT).split('\n');

  test('it creates the table first, then deletes each base chain once so a changed priority cannot fail it', () => {
    expect(text[0]).toBe('add table ip kube-proxy { comment "rules for kube-proxy" ; }');
    for (const bc of BASE_CHAINS) {
      const plain = text.indexOf(`add chain ip kube-proxy ${bc.name}`);
      const deleted = text.indexOf(`delete chain ip kube-proxy ${bc.name}`);
      const hooked = text.indexOf(
        `add chain ip kube-proxy ${bc.name} { type ${bc.base.type} hook ${bc.base.hook} priority ${bc.base.priority} ; }`,
      );
      expect(plain).toBeGreaterThan(0);
      expect(deleted).toBe(plain + 1);
      expect(hooked).toBeGreaterThan(deleted);
      expect(text[hooked + 1]).toBe(`flush chain ip kube-proxy ${bc.name}`);
    }
  });

  test('every chain it fills is added and flushed once, before its first rule', () => {
    const adds = new Map<string, number>();
    ops.forEach((op, i) => {
      if (op.object.kind === 'chain' && op.verb === 'flush') {
        expect(adds.has(op.object.name)).toBe(false);
        adds.set(op.object.name, i);
      }
    });
    ops.forEach((op, i) => {
      if (op.object.kind === 'rule') expect(adds.get(op.object.chain) ?? Infinity).toBeLessThan(i);
    });
  });

  test('the text has one line per operation', () => {
    expect(text.filter(Boolean)).toHaveLength(ops.length);
    expect(ops.map(operationText)).toEqual(text.filter(Boolean));
  });
});

describe('input that could write into the transaction is refused', () => {
  const bad: [string, ServicePort][] = [
    ['a Service name with nft syntax', { ...mysql, name: 'x } ; flush ruleset ; #' }],
    ['an upper-case namespace', { ...mysql, namespace: 'Default' }],
    ['a port name with a quote', { ...mysql, portName: 'my"sql' }],
    ['a ClusterIP with an octal octet', { ...mysql, clusterIP: '10.96.207.061' }],
    ['an endpoint that is not an address', { ...mysql, endpoints: [{ ip: '10.244.2.2 drop', port: 3306 }] }],
    ['an endpoint port 0', { ...mysql, endpoints: [{ ip: '10.244.2.2', port: 0 }] }],
    ['an unknown protocol', { ...mysql, protocol: 'ICMP' }],
  ];
  test.each(bad)('%s', (_what, svc) => {
    expect(() => syncOperations([svc], INCIDENT)).toThrow(NatscopeError);
  });

  test('options are checked too, with a hint saying what is expected', () => {
    const err = (() => {
      try {
        syncOperations([mysql], { ...INCIDENT, clusterCIDR: '10.244.0.0/16 accept' });
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(NatscopeError);
    expect(err instanceof NatscopeError ? err.hint : '').toMatch(/IPv4 CIDR/);
    expect(() => syncOperations([mysql], { ...INCIDENT, nodePortIPs: ['node1'] })).toThrow(NatscopeError);
    expect(() => syncOperations([mysql], { ...INCIDENT, serviceCIDRs: ['10.96.0.1/16'] })).toThrow(NatscopeError);
    expect(() => syncOperations([mysql], { ...INCIDENT, masqueradeBit: 31 })).toThrow(NatscopeError);
  });
});
