// The readiness proof against a scripted lab: what each outcome means.

import { describe, expect, test } from 'vitest';
import { base, type RequestEvent } from '../../../src/events/types.js';
import { parseConntrack } from '../../../src/lab/conntrack.js';
import { masqueradesOffice, proveReadiness, type ReadinessProbe } from '../../../src/lab/kind/readiness.js';
import { asNatscopeError } from '../../helpers.js';

const OFFICE = '192.168.10.10';
const TARGETS: Record<string, { dst: string; dport: number; pod: string; node: string }> = {
  'pod/nginx': { dst: '10.244.2.2', dport: 80, pod: 'nginx', node: 'node1' },
  'pod/mysql': { dst: '10.244.1.2', dport: 3306, pod: 'mysql', node: 'node2' },
  nginx: { dst: '10.96.48.29', dport: 80, pod: 'nginx', node: 'node1' },
  mysql: { dst: '10.96.207.61', dport: 3306, pod: 'mysql', node: 'node2' },
};

interface Script {
  // the peer address each pod reports, per target; null = no answer
  seen: Record<string, string | null>;
  // the source node2's conntrack shows for the mysql ClusterIP connection
  node2Src?: string;
}

function probe(script: Script, logs: string[] = []): ReadinessProbe {
  let sport = 41000;
  let mysqlSport = 0;
  return {
    node1Ip: '172.18.0.3',
    mysqlPodIp: '10.244.1.2',
    officeIp: OFFICE,
    officeCidr: '192.168.10.0/24',
    log: (l) => logs.push(l),
    async request(target): Promise<RequestEvent> {
      const t = TARGETS[target]!;
      const port = sport++;
      if (target === 'mysql') mysqlSport = port;
      const peer = script.seen[target] ?? null;
      return {
        ...base('request', 'office', 0),
        target,
        via: target.startsWith('pod/') ? 'pod' : 'service',
        src: OFFICE,
        sport: port,
        dst: t.dst,
        dport: t.dport,
        outcome: peer ? 'answered' : 'timeout',
        latencyMs: 1,
        pod: peer ? t.pod : null,
        node: peer ? t.node : null,
        peer: peer ? `${peer}:${port}` : null,
        detail: null,
      };
    },
    async conntrack() {
      const src = script.node2Src ?? OFFICE;
      return parseConntrack(
        `tcp      6 58 SYN_RECV src=${src} dst=10.244.1.2 sport=${mysqlSport} dport=3306 src=10.244.1.2 dst=${src} sport=3306 dport=${mysqlSport} mark=0 use=1\n`,
      );
    },
  };
}

const incident = { mode: 'iptables' as const, masqueradeAll: false, clusterCIDR: null };
const healthy = { 'pod/nginx': OFFICE, 'pod/mysql': OFFICE, nginx: OFFICE, mysql: null };

describe('the readiness proof of the kind lab', () => {
  test('the incident staged: pods see the office, nginx answers, mysql hangs and node2 saw the office', async () => {
    const logs: string[] = [];
    await proveReadiness(probe({ seen: healthy }, logs), incident);
    expect(logs.join('\n')).toMatch(
      /pod\/mysql: answered by mysql on node2, which saw the office client's own address 192\.168\.10\.10/,
    );
    expect(logs.at(-1)).toMatch(
      /mysql: no answer \(the incident\); node2 got the DNATed SYN from the office's own address 192\.168\.10\.10/,
    );
  });

  test('a pod that sees another address than the office client fails it: Docker NATs the office', async () => {
    await expect(proveReadiness(probe({ seen: { ...healthy, 'pod/mysql': '172.18.0.1' } }), incident)).rejects.toThrow(
      /the mysql pod saw 172\.18\.0\.1:\d+, not the office client 192\.168\.10\.10/,
    );
  });

  test('node2 receiving the DNATed connection from another source fails it, though direct access looked fine', async () => {
    await expect(proveReadiness(probe({ seen: healthy, node2Src: '172.18.0.1' }), incident)).rejects.toThrow(
      /node2 saw the office's connection to mysql coming from 172\.18\.0\.1/,
    );
  });

  test('mysql answering through its ClusterIP while kube-proxy does not masquerade means the incident is hidden', async () => {
    await expect(proveReadiness(probe({ seen: { ...healthy, mysql: OFFICE } }), incident)).rejects.toThrow(
      /the incident is not visible/,
    );
  });

  test('a pod that does not answer at all points at the routes', async () => {
    const err = asNatscopeError(
      await proveReadiness(probe({ seen: { ...healthy, 'pod/nginx': null } }), incident).catch((e: unknown) => e),
    );
    expect(err.message).toMatch(/office → pod\/nginx \(10\.244\.2\.2:80\) got no answer/);
    expect(err.hint).toMatch(/routes/);
  });

  test('with masqueradeAll staged, mysql answers and its pod sees node1', async () => {
    const fixed = { mode: 'iptables' as const, masqueradeAll: true, clusterCIDR: null };
    await proveReadiness(probe({ seen: { ...healthy, mysql: '172.18.0.3' } }), fixed);
    await expect(proveReadiness(probe({ seen: healthy }), fixed)).rejects.toThrow(/should be answered/);
  });

  test('kube-proxy masquerades the office with masqueradeAll, or with a cluster CIDR that does not hold it', () => {
    expect(masqueradesOffice(incident, OFFICE)).toBe(false);
    expect(masqueradesOffice({ ...incident, masqueradeAll: true }, OFFICE)).toBe(true);
    expect(masqueradesOffice({ ...incident, clusterCIDR: '10.244.0.0/16' }, OFFICE)).toBe(true);
    expect(masqueradesOffice({ ...incident, clusterCIDR: '192.168.0.0/16' }, OFFICE)).toBe(false);
  });
});
