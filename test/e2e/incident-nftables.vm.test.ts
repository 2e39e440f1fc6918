// The incident traced for real with kube-proxy in nftables mode: the netns
// lab brought up with --proxy-mode nftables and the probes in the micro-VM
// (a kernel that has kprobes), assertions on the kernel's events. The NAT
// probes see nftables' DNAT and masquerade the way they see iptables': both
// go through nf_nat_setup_info. What nftables mode adds: a ClusterIP ping is
// rejected on node1 (cluster-ips-check), the ping dropped there by the rule.
// The event stream and bpftrace's raw output are kept in
// test-output/vm/<stack>/nftables/.

import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openSession } from '../../src/agent/control.js';
import type { Session } from '../../src/agent/session.js';
import { encodeEvent } from '../../src/events/codec.js';
import { isVerdictDrop } from '../../src/events/story.js';
import type { DropEvent, LabStatus, NatEvent, NatscopeEvent, PingResult } from '../../src/events/types.js';
import { eventsOfClient, runIncidentScenario, type ScenarioResult } from '../../src/incident/scenario.js';
import type { ConntrackEntry } from '../../src/lab/conntrack.js';
import { ROOT } from '../helpers.js';
import { EXPECT, STACK, STACK_LABEL } from '../vm/stacks.js';

const OUT = join(ROOT, 'test-output', 'vm', STACK, 'nftables');
const RECORDING = join(OUT, 'incident.jsonl');
const RAW = join(OUT, 'bpftrace-raw.jsonl');

let session: Session;
let result: ScenarioResult;
let ping: PingResult;
let fixedEntry: ConntrackEntry | undefined;
let rulesFixed: string;
let labStatus: LabStatus;
const events: NatscopeEvent[] = [];

beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(RAW, '');
  const record = createWriteStream(RECORDING);
  session = await openSession({
    vm: 'on',
    lab: 'netns',
    prefix: 'natscope-',
    bringUp: true,
    proxyMode: 'nftables',
    probes: null,
    onEvent: (e) => {
      events.push(e);
      record.write(`${encodeEvent(e)}\n`);
    },
    log: (line) => process.stderr.write(`  ${line}\n`),
    shares: [OUT],
  });
  labStatus = (await session.client.call({ cmd: 'status' })).lab!;
  await session.client.call({ cmd: 'trace', probes: ['nat', 'conntrack', 'drop'], rawLog: RAW });
  ping = await session.client.call({ cmd: 'ping', target: 'mysql' });
  result = await runIncidentScenario(session.client);
  fixedEntry = (await session.client.call({ cmd: 'conntrack', node: 'node1' })).find(
    (e) => e.orig.sport === result.mysqlFixed.sport && e.orig.dport === 3306,
  );
  rulesFixed = await session.client.call({ cmd: 'rules', node: 'node1' });
  await session.client.call({ cmd: 'untrace' });
  await session.close();
  await new Promise<void>((resolve) => record.end(resolve));
});

afterAll(async () => {
  await session?.close();
});

const of = (r: { src: string | null; sport: number | null }) => eventsOfClient(events, r.src!, r.sport!);

describe(`the incident in nftables mode, in the micro-VM (${STACK_LABEL}), traced`, () => {
  test('the lab in the guest runs kube-proxy in nftables mode: its table is what lab rules lists', () => {
    expect(labStatus.kubeProxy.mode).toBe('nftables');
    expect(rulesFixed).toMatch(/^table ip kube-proxy \{/);
    expect(rulesFixed).toMatch(
      /chain service-OHLJZKKC-default\/mysql\/tcp\/mysql \{\n\s*ip daddr 10\.96\.207\.61 jump mark-for-masquerade\n/,
    );
  });

  test('masqueradeAll=false: mysql times out; DNAT on node1 (the nf_nat probe), no SNAT, the vpn drops the SYN-ACK', () => {
    const r = result.mysqlBroken;
    expect(r.outcome).toBe('timeout');
    const mine = of(r);
    const dnat = mine.filter((e): e is NatEvent => e.kind === 'nat' && e.manip === 'DNAT');
    expect(dnat.map((e) => e.host)).toEqual(['node1']);
    expect(dnat[0]!.orig).toEqual({ src: r.src, sport: r.sport, dst: '10.96.207.61', dport: 3306 });
    expect(dnat[0]!.to).toEqual({ ip: '10.244.2.2', port: 3306 });
    expect(mine.filter((e) => e.kind === 'nat' && e.manip === 'SNAT')).toEqual([]);
    const drops = mine.filter((e): e is DropEvent => e.kind === 'drop' && e.host === 'vpn');
    expect(drops.length).toBeGreaterThan(0);
    for (const d of drops) {
      expect(d.reason).toBe('NETFILTER_DROP');
      expect(d.location).toBe(EXPECT.netfilterDropAt);
      expect(d.packet).toMatchObject({ proto: 'tcp', src: '10.244.2.2', sport: 3306, dst: r.src, dport: r.sport });
    }
  });

  test('office → nginx: answered, DNAT on node1 only, no netfilter drop', () => {
    const r = result.nginx;
    expect(r.outcome).toBe('answered');
    const mine = of(r);
    expect(mine.filter((e): e is NatEvent => e.kind === 'nat').map((e) => [e.host, e.manip])).toEqual([
      ['node1', 'DNAT'],
    ]);
    expect(mine.filter((e) => e.kind === 'drop' && isVerdictDrop(e))).toEqual([]);
  });

  test("nftables.masqueradeAll=true: mysql answers; DNAT and SNAT to node1's address on node1; conntrack agrees", () => {
    const r = result.mysqlFixed;
    expect(r.outcome).toBe('answered');
    const nat = of(r).filter((e): e is NatEvent => e.kind === 'nat');
    expect(nat.map((e) => [e.host, e.manip])).toEqual([
      ['node1', 'DNAT'],
      ['node1', 'SNAT'],
    ]);
    expect(nat[1]!.to.ip).toBe('10.0.1.11');
    expect(r.peer).toBe(`10.0.1.11:${nat[1]!.to.port}`);
    expect(fixedEntry?.reply).toEqual({ src: '10.244.2.2', sport: 3306, dst: '10.0.1.11', dport: nat[1]!.to.port });
    expect(of(r).filter((e) => e.kind === 'drop' && isVerdictDrop(e))).toEqual([]);
  });

  test('a ClusterIP ping gets an ICMP reject from node1, whose rule dropped the echo request', () => {
    expect(ping.answered).toBe(false);
    expect(ping.detail).toMatch(/From 10\.0\.1\.11 icmp_seq=1 Destination Port Unreachable/);
    const echo = events.filter(
      (e): e is DropEvent =>
        e.kind === 'drop' && e.host === 'node1' && e.packet.proto === 'icmp' && e.packet.dst === '10.96.207.61',
    );
    expect(echo.length).toBe(1);
    expect(echo[0]).toMatchObject({ reason: 'NETFILTER_DROP', location: EXPECT.netfilterDropAt });
  });

  test('no event was lost and the tracer reported no error', () => {
    expect(events.filter((e) => e.kind === 'lost')).toEqual([]);
    expect(events.filter((e) => e.kind === 'error')).toEqual([]);
  });
});
