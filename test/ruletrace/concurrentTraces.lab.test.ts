// Two rule traces of one lab at once (root): from one process (two clients
// of one agent) and from two `trace --rules` commands. Each one's rule path
// is its own request's (its source port, its Service's pod), neither is
// refused, and nothing is left: no trace table, no nft listener, no lock file.

import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NetnsLab } from '../../src/lab/netns/lab.js';
import { stateDir } from '../../src/lab/netns/state.js';
import { type RuleTrace, RuleTraceSchema } from '../../src/ruletrace/rulePath.js';
import { tracedRequest } from '../../src/ruletrace/tracedRequest.js';
import { natscope } from '../cli.js';
import { traceLeftovers } from './leftovers.js';

const PREFIX = 'natscope-trc-';
const POD = { nginx: '10.244.1.2:80', mysql: '10.244.2.2:3306' } as const;

// and the trace lock's file
async function leftBehind(): Promise<string[]> {
  const left = await traceLeftovers(PREFIX);
  left.push(...readdirSync(stateDir()).filter((f) => f.startsWith(`${PREFIX}trace`)));
  return left;
}

// The trace is of its own request: every packet it explains is of its flow, and node1 sent it to its pod.
function expectOwnPath(traced: RuleTrace, target: 'nginx' | 'mysql', otherSport: number | null): void {
  const sport = traced.request.sport;
  expect(sport).not.toBeNull();
  const office = traced.rulePath.packets.find((p) => p.host === 'office' && p.direction === 'request');
  expect(office?.packet).toMatch(new RegExp(`^192\\.168\\.10\\.10:${sport} → `));
  const node1 = traced.rulePath.packets.find((p) => p.host === 'node1' && p.direction === 'request');
  expect(node1?.outcome).toContain(`DNAT to ${POD[target]}`);
  const other = target === 'nginx' ? POD.mysql : POD.nginx;
  for (const p of traced.rulePath.packets) {
    expect(p.packet).not.toContain(other);
    if (otherSport !== null) expect(p.packet).not.toContain(`:${otherSport} `);
  }
  expect(Object.values(traced.skipped)).toEqual([0, 0, 0, 0]);
}

describe('two rule traces of one lab at once', () => {
  let lab: NetnsLab;

  beforeAll(async () => {
    lab = await NetnsLab.up({ prefix: PREFIX, masqueradeAll: false, clusterCIDR: null, proxyMode: 'iptables' });
  });
  afterAll(async () => {
    await NetnsLab.down(PREFIX);
  });

  test('from one process: both finish, each with its own request’s path, one after the other', async () => {
    const [a, b] = await Promise.all([tracedRequest(lab, 'mysql', 1500), tracedRequest(lab, 'nginx', 1500)]);
    expect(a.request.outcome).toBe('timeout');
    expect(b.request.outcome).toBe('answered');
    expectOwnPath(a, 'mysql', b.request.sport);
    expectOwnPath(b, 'nginx', a.request.sport);
    expect(await leftBehind()).toEqual([]);
  });

  test('from two trace --rules commands: both succeed with their own paths and leave nothing', async () => {
    const run = (target: string) =>
      natscope([
        'trace',
        '--rules',
        '--request',
        target,
        '--timeout',
        '1.5',
        '--prefix',
        PREFIX,
        '--vm',
        'off',
        '--json',
      ]);
    const [mysql, nginx] = await Promise.all([run('mysql'), run('nginx')]);
    // mysql times out before the fix (exit 1), nginx answers (exit 0)
    expect([mysql.exitCode, nginx.exitCode], `${mysql.stderr}${nginx.stderr}`).toEqual([1, 0]);
    const a = RuleTraceSchema.parse(JSON.parse(String(mysql.stdout)));
    const b = RuleTraceSchema.parse(JSON.parse(String(nginx.stdout)));
    expectOwnPath(a, 'mysql', b.request.sport);
    expectOwnPath(b, 'nginx', a.request.sport);
    expect(await leftBehind()).toEqual([]);
  });
});
