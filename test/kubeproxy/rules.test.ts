import { describe, expect, test } from 'vitest';
import { normalizeRestore } from '../../src/kubeproxy/normalize.js';
import {
  masqueradeMark,
  probability,
  renderRestore,
  renderStartup,
  type KubeProxyOptions,
  type ServicePort,
} from '../../src/kubeproxy/rules.js';
import { fixtureText } from '../helpers.js';

// kube-proxy's unit tests use a fake proxier: mark "0x4000", no --random-fully,
// and a ClusterCIDR local detector of 10.0.0.0/8. The golden files are
// kube-proxy's expected dumps for the same inputs (see test/fixtures/kubeproxy/README.md).
const TEST_PROXIER: KubeProxyOptions = {
  masqueradeAll: false,
  clusterCIDR: '10.0.0.0/8',
  markStyle: 'test',
  randomFully: false,
};

const svc = (
  namespace: string,
  name: string,
  portName: string,
  clusterIP: string,
  port: number,
  endpoints: [string, number][],
): ServicePort => ({
  namespace,
  name,
  portName,
  protocol: 'TCP',
  clusterIP,
  port,
  endpoints: endpoints.map(([ip, p]) => ({ ip, port: p })),
});

describe("kube-proxy iptables payload (golden, against kube-proxy's own expected dumps)", () => {
  test('two services, one endpoint each (TestSyncProxyRulesRepeated, first sync)', () => {
    const out = renderRestore(
      [
        svc('ns2', 'svc2', 'p8080', '172.30.0.42', 8080, [['10.0.2.1', 8080]]),
        svc('ns1', 'svc1', 'p80', '172.30.0.41', 80, [['10.0.1.1', 80]]),
      ],
      TEST_PROXIER,
    );
    expect(normalizeRestore(out)).toBe(fixtureText('kubeproxy', 'two-services-cluster-cidr.txt'));
  });

  test('three endpoints get probability rules 1/3, 1/2 and a last plain jump (TestInternalTrafficPolicyE2E)', () => {
    const out = renderRestore(
      [
        svc('ns1', 'svc1', '', '172.30.1.1', 80, [
          ['10.0.1.3', 80],
          ['10.0.1.1', 80],
          ['10.0.1.2', 80],
        ]),
      ],
      TEST_PROXIER,
    );
    expect(normalizeRestore(out)).toBe(fixtureText('kubeproxy', 'three-endpoints-cluster-cidr.txt'));
  });

  test('a service without endpoints is rejected in the filter table (TestClusterIPReject)', () => {
    const out = renderRestore([svc('ns1', 'svc1', 'p80', '172.30.0.41', 80, [])], TEST_PROXIER);
    expect(normalizeRestore(out)).toBe(fixtureText('kubeproxy', 'no-endpoints.txt'));
  });
});

describe('the masquerade rule: what the incident turns on', () => {
  const mysql = [svc('default', 'mysql', 'mysql', '10.96.207.61', 3306, [['10.244.2.2', 3306]])];
  const masqRules = (o: Partial<KubeProxyOptions>) =>
    renderRestore(mysql, { ...TEST_PROXIER, ...o })
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-SVC-') && l.endsWith('-j KUBE-MARK-MASQ'));

  test('no cluster CIDR and no masqueradeAll: no masquerade rule at all (the incident)', () => {
    expect(masqRules({ clusterCIDR: null })).toEqual([]);
  });

  test('masqueradeAll: the first rule of the KUBE-SVC chain marks every packet, no source match', () => {
    expect(masqRules({ masqueradeAll: true })).toEqual([
      '-A KUBE-SVC-EM6TYMHOE4ZSTRV3 -m comment --comment "default/mysql:mysql cluster IP" -m tcp -p tcp -d 10.96.207.61 --dport 3306 -j KUBE-MARK-MASQ',
    ]);
    const svcRules = renderRestore(mysql, { ...TEST_PROXIER, masqueradeAll: true })
      .split('\n')
      .filter((l) => l.startsWith('-A KUBE-SVC-'));
    expect(svcRules[0]).toContain('-j KUBE-MARK-MASQ');
  });

  test('a cluster CIDR: off-cluster sources are masqueraded', () => {
    expect(masqRules({ clusterCIDR: '10.244.0.0/16' })).toEqual([
      '-A KUBE-SVC-EM6TYMHOE4ZSTRV3 -m comment --comment "default/mysql:mysql cluster IP" -m tcp -p tcp -d 10.96.207.61 --dport 3306 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
    ]);
  });

  test('a cluster CIDR that is not canonical (octal to iptables, or host bits set) is never written into a payload', () => {
    for (const bad of ['010.244.0.0/16', '10.244.0.1/16', '10.244.0.0/16 -j ACCEPT'])
      expect(() => renderRestore(mysql, { ...TEST_PROXIER, clusterCIDR: bad })).toThrow(
        `clusterCIDR ${JSON.stringify(bad)} is not a canonical IPv4 CIDR`,
      );
  });

  test('the real proxier formats the mark with %#08x and adds --random-fully', () => {
    expect(masqueradeMark({ masqueradeAll: false, clusterCIDR: null })).toBe('0x00004000');
    const out = renderRestore(mysql, { masqueradeAll: false, clusterCIDR: null, randomFully: true });
    expect(out).toContain('-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN');
    expect(out).toContain(
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    );
    expect(out).toContain(
      '-A KUBE-SEP-3LJO4D7DZ32AJL6Z -m comment --comment default/mysql:mysql -s 10.244.2.2 -j KUBE-MARK-MASQ',
    );
  });
});

describe('details', () => {
  test("probabilities are Go's %0.10f of 1/n, ties to even", () => {
    expect(probability(2)).toBe('0.5000000000');
    expect(probability(3)).toBe('0.3333333333');
    expect(probability(100001)).toBe('0.0000099999');
    expect(probability(2048)).toBe('0.0004882812');
    expect(probability(1)).toBe('1.0000000000');
  });

  test('endpoints are ordered as strings, as the EndpointSliceCache sorts them', () => {
    const out = renderRestore(
      [
        svc('ns1', 's', 'p', '10.96.0.9', 80, [
          ['10.0.0.2', 80],
          ['10.0.0.10', 80],
        ]),
      ],
      TEST_PROXIER,
    );
    const jumps = out.split('\n').filter((l) => l.includes(' -> '));
    expect(jumps[0]).toContain('10.0.0.10:80');
    expect(jumps[1]).toContain('10.0.0.2:80');
  });

  test("startup inserts the jumps from the built-in chains, so kube-proxy's chains are reached", () => {
    const s = renderStartup();
    expect(s).toContain('-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    expect(s).toContain('-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
    expect(s).toContain(':KUBE-PROXY-CANARY - [0:0]');
  });
});
