import { describe, expect, test } from 'vitest';
import type { Endpoint, ServicePort } from '../../../src/kubeproxy/rules.js';
import { normalizeNftables } from '../../../src/kubeproxy/nftables/normalize.js';
import { renderTable } from '../../../src/kubeproxy/nftables/render.js';
import type { NftablesProxyOptions } from '../../../src/kubeproxy/nftables/sync.js';
import { fixtureText } from '../../helpers.js';

// kube-proxy's nftables unit tests run a fake proxier (NewFakeProxier): mark
// "0x4000", a ClusterCIDR local detector of 10.0.0.0/8, nodePortAddresses
// 192.168.0.2/32 (so nodeport-ips holds 192.168.0.2) and the Service CIDR
// 172.30.0.0/16. The golden files are kube-proxy's expected rulesets for the
// same inputs (test/fixtures/kubeproxy/nftables/README.md says where each is from).
const TEST_PROXIER: NftablesProxyOptions = {
  masqueradeAll: false,
  clusterCIDR: '10.0.0.0/8',
  nodePortIPs: ['192.168.0.2'],
  serviceCIDRs: ['172.30.0.0/16'],
  markStyle: 'test',
};

const golden = (file: string) => fixtureText('kubeproxy', 'nftables', file);
// Each expected ruleset in proxier_test.go is baseRules followed by the test's own lines.
const expected = (file: string) => normalizeNftables(golden('base-rules.txt') + golden(file));

const svc = (
  ns: string,
  name: string,
  portName: string,
  clusterIP: string,
  port: number,
  eps: string[],
): ServicePort => ({
  namespace: ns,
  name,
  portName,
  protocol: 'TCP',
  clusterIP,
  port,
  endpoints: eps.map((ip): Endpoint => ({ ip, port })),
});

const svc1 = (...eps: string[]) => svc('ns1', 'svc1', 'p80', '172.30.0.41', 80, eps);
const svc2 = svc('ns2', 'svc2', 'p8080', '172.30.0.42', 8080, ['10.0.2.1']);
const svc3 = (...eps: string[]) => svc('ns3', 'svc3', 'p80', '172.30.0.43', 80, eps);
const svc4 = (...eps: string[]) => svc('ns4', 'svc4', 'p80', '172.30.0.44', 80, eps);

const table = (services: ServicePort[]) => normalizeNftables(renderTable(services, TEST_PROXIER));

describe("kube-proxy's nftables ruleset (golden, against kube-proxy's own expected rulesets)", () => {
  test('two services, one endpoint each (TestSyncProxyRulesRepeated, first sync)', () => {
    expect(table([svc1('10.0.1.1'), svc2])).toBe(expected('repeated-1-two-services.txt'));
  });

  test('a third service (TestSyncProxyRulesRepeated, second sync)', () => {
    expect(table([svc1('10.0.1.1'), svc2, svc3('10.0.3.1')])).toBe(expected('repeated-2-add-service.txt'));
  });

  test('a deleted service leaves no trace once its stale chains are gone (TestSyncProxyRulesRepeated, fourth sync)', () => {
    expect(table([svc1('10.0.1.1'), svc3('10.0.3.1')])).toBe(expected('repeated-4-stale-chains-deleted.txt'));
  });

  test('a service without endpoints is only a reject verdict in no-endpoint-services (TestSyncProxyRulesRepeated, fifth sync)', () => {
    expect(table([svc1('10.0.1.1'), svc3('10.0.3.1'), svc4()])).toBe(
      expected('repeated-5-service-without-endpoints.txt'),
    );
  });

  test('its endpoints arrive: a service chain and an endpoint chain (TestSyncProxyRulesRepeated, sixth sync)', () => {
    expect(table([svc1('10.0.1.1'), svc3('10.0.3.1'), svc4('10.0.4.1')])).toBe(
      expected('repeated-6-endpoints-added.txt'),
    );
  });

  test('two endpoints: numgen picks one of two (TestSyncProxyRulesRepeated, eighth sync and the syncs after it)', () => {
    expect(table([svc1('10.0.1.1'), svc3('10.0.3.2', '10.0.3.3'), svc4('10.0.4.1')])).toBe(
      expected('repeated-8-second-endpoint.txt'),
    );
  });

  test('two endpoints, one service and one without endpoints (TestSyncProxyRulesStartup)', () => {
    expect(table([svc1('10.0.1.1', '10.0.1.2'), svc2, svc3()])).toBe(expected('startup.txt'));
  });

  test("the ClusterIP services of TestOverallNFTablesRules (its '# svc1' and '# svc6' sections)", () => {
    const services = [
      svc('ns1', 'svc1', 'p80', '172.30.0.41', 80, ['10.180.0.1']),
      svc('ns6', 'svc6', 'p80', '172.30.0.46', 80, []),
    ];
    const clusterIPSections = sections(golden('overall.txt'), ['# svc1', '# svc6']);
    expect(table(services)).toBe(normalizeNftables(golden('base-rules.txt') + clusterIPSections));
  });
});

// The lines of the named "# svcN" sections of an expected ruleset (a section
// runs from its comment line to the next one).
function sections(text: string, names: string[]): string {
  const out: string[] = [];
  let keep = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('# ')) keep = names.includes(line.trim());
    else if (keep) out.push(line);
  }
  if (out.filter((l) => l.trim()).length === 0) throw new Error(`no lines in sections ${names.join(', ')}`);
  return `${out.join('\n')}\n`;
}
