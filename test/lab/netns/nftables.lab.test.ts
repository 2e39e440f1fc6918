// The netns lab with kube-proxy in nftables mode, for real (root): the
// incident's behaviour matrix and both fixes, read from the kernel itself
// (exit codes, the drop tracepoint, conntrack, ICMP counters, nft's
// generations), and what nftables mode does differently: a ClusterIP ping
// is rejected by node1 (cluster-ips-check) rather than lost.

import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeEvent } from '../../../src/events/codec.js';
import { LabStatusSchema, RequestEventSchema } from '../../../src/events/types.js';
import { type ConntrackEntry, parseConntrack } from '../../../src/lab/conntrack.js';
import { CLI, jsonOutput, natscope } from '../../cli.js';
import { namedNamespaces } from '../../helpers.js';

const PREFIX = 'natscope-tn-';
const MYSQL_CHAIN = 'service-OHLJZKKC-default/mysql/tcp/mysql';
const lab = (...args: string[]) => natscope(['lab', ...args, '--vm', 'off', '--prefix', PREFIX]);
const inNs = (ns: string, ...argv: string[]) =>
  execa('ip', ['netns', 'exec', `${PREFIX}${ns}`, ...argv], { reject: false });
// one request from the office, as `lab request` makes it: exit code 0 when answered
const request = async (target: string) => {
  const r = await lab('request', target, '--timeout', '2', '--json');
  return { exitCode: r.exitCode, ...jsonOutput(RequestEventSchema, r.stdout) };
};
const conntrack = async (node: string): Promise<ConntrackEntry[]> =>
  parseConntrack(String((await inNs(node, 'conntrack', '-L', '-p', 'tcp')).stdout));
const entryOf = (entries: ConntrackEntry[], sport: number | null) =>
  entries.find((e) => e.orig.sport === sport && e.orig.dport === 3306);
// packets the vpn's cloud-fabric rule (conntrack INVALID → DROP) has dropped
const vpnDrops = async () =>
  Number(/^\[(\d+):\d+\].*--ctstate INVALID/m.exec(String((await inNs('vpn', 'iptables-save', '-c')).stdout))?.[1]);
// ICMP destination-unreachable messages a host has sent (/proc/net/snmp, per namespace)
const destUnreachsSent = async (ns: string) => {
  const lines = String((await inNs(ns, 'cat', '/proc/net/snmp')).stdout)
    .split('\n')
    .filter((l) => l.startsWith('Icmp: '));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('OutDestUnreachs')]);
};
const serviceChain = async () =>
  String((await inNs('node1', 'nft', 'list', 'chain', 'ip', 'kube-proxy', MYSQL_CHAIN)).stdout);

let hostRulesetBefore: string;

beforeAll(async () => {
  await lab('down');
  hostRulesetBefore = String((await execa('nft', ['list', 'ruleset'])).stdout);
  const up = await natscope(['lab', 'up', '--proxy-mode', 'nftables', '--vm', 'off', '--prefix', PREFIX, '--json']);
  expect(up.exitCode).toBe(0);
}, 60_000);

afterAll(async () => {
  await lab('down');
});

describe('kube-proxy in nftables mode, masqueradeAll=false and no clusterCIDR (the incident)', () => {
  test('the nodes hold table ip kube-proxy and no iptables nat rules; lab status --json says nftables', async () => {
    for (const node of ['node1', 'node2']) {
      const tables = String((await inNs(node, 'nft', 'list', 'tables')).stdout);
      expect(tables.split('\n')).toContain('table ip kube-proxy');
      expect(String((await inNs(node, 'iptables-save', '-t', 'nat')).stdout)).not.toContain('KUBE-');
    }
    const status = jsonOutput(LabStatusSchema, (await lab('status', '--json')).stdout);
    expect(status.kubeProxy).toEqual({ mode: 'nftables', masqueradeAll: false, clusterCIDR: null });
  });

  test('lab rules node1 prints the kernel’s listing of table ip kube-proxy', async () => {
    const listing = String((await inNs('node1', 'nft', 'list', 'table', 'ip', 'kube-proxy')).stdout);
    const r = await lab('rules', 'node1');
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout).trim()).toBe(listing.trim());
    expect(listing).toContain(`chain ${MYSQL_CHAIN} {`);
  });

  test('office → nginx ClusterIP is answered (its pod is on node1), and the pod saw the client itself', async () => {
    const r = await request('nginx');
    expect(r.exitCode).toBe(0);
    expect(r.peer).toBe(`192.168.10.10:${r.sport}`);
  });

  test("office → mysql ClusterIP hangs: node1 DNATs it, the pod's SYN-ACKs die in the vpn's INVALID rule", async () => {
    const trace = execa(
      process.execPath,
      [CLI, 'trace', '--probes', 'drop', '--json', '--duration', '10', '--vm', 'off', '--prefix', PREFIX],
      { reject: false },
    );
    await attached(trace);
    const dropsBefore = await vpnDrops();
    const r = await request('mysql');
    expect(r.exitCode).toBe(1);
    expect(await vpnDrops()).toBeGreaterThan(dropsBefore);
    // node1 DNATed it and expects the reply from the pod to the client: it never comes back
    const e = entryOf(await conntrack('node1'), r.sport);
    expect(e?.orig).toEqual({ src: '192.168.10.10', sport: r.sport, dst: '10.96.207.61', dport: 3306 });
    expect(e?.reply).toEqual({ src: '10.244.2.2', sport: 3306, dst: '192.168.10.10', dport: r.sport });
    expect(e?.flags).toContain('UNREPLIED');
    const events = String((await trace).stdout)
      .trim()
      .split('\n')
      .map((l, i) => decodeEvent(l, i + 1));
    const drops = events.filter(
      (ev) =>
        ev.kind === 'drop' &&
        ev.host === 'vpn' &&
        ev.reason === 'NETFILTER_DROP' &&
        ev.packet.src === '10.244.2.2' &&
        ev.packet.sport === 3306 &&
        ev.packet.dst === '192.168.10.10' &&
        ev.packet.dport === r.sport,
    );
    expect(drops.length).toBeGreaterThan(0);
    expect(String((await trace).stderr)).toMatch(
      /tracing drop on the lab natscope-tn- \(native\); kube-proxy in nftables mode/,
    );
  }, 60_000);

  test('pod IPs answer directly, and the pods saw the office client itself', async () => {
    for (const target of ['pod/mysql', 'pod/nginx']) {
      const r = await request(target);
      expect(r.exitCode).toBe(0);
      expect(r.peer).toBe(`192.168.10.10:${r.sport}`);
    }
  });

  test('the mysql Service chain marks nothing for masquerade', async () => {
    expect(await serviceChain()).not.toContain('jump mark-for-masquerade');
  });

  test('a ClusterIP ping is rejected by node1 (ICMP port unreachable from cluster-ips-check); a pod IP answers', async () => {
    const sentBefore = await destUnreachsSent('node1');
    const ping = await inNs('office', 'ping', '-c', '1', '-W', '1', '10.96.207.61');
    expect(ping.exitCode).toBe(1);
    expect(String(ping.stdout)).toMatch(/From 10\.0\.1\.11 icmp_seq=1 Destination Port Unreachable/);
    expect((await destUnreachsSent('node1')) - sentBefore).toBe(1);
    const chain = String((await inNs('node1', 'nft', 'list', 'chain', 'ip', 'kube-proxy', 'cluster-ips-check')).stdout);
    expect(chain).toMatch(/ip daddr @cluster-ips reject/);
    expect((await inNs('office', 'ping', '-c', '1', '-W', '1', '10.244.2.2')).exitCode).toBe(0);
  });
});

describe('after lab set masquerade-all on', () => {
  let generations: string[];

  beforeAll(async () => {
    // nft prints "# new generation N by process P (nft)" once per committed transaction
    const monitor = execa('ip', ['netns', 'exec', `${PREFIX}node1`, 'nft', 'monitor'], { reject: false });
    await new Promise((r) => setTimeout(r, 500));
    const r = await lab('set', 'masquerade-all', 'on');
    await new Promise((r) => setTimeout(r, 500));
    monitor.kill('SIGTERM');
    generations = String((await monitor).stdout)
      .split('\n')
      .filter((l) => l.startsWith('# new generation'));
    expect(r.exitCode).toBe(0);
  });

  test('node1 was re-synced with one nft transaction, and its mysql chain now marks every connection', async () => {
    expect(generations).toHaveLength(1);
    expect(generations[0]).toMatch(/\(nft\)$/);
    expect(await serviceChain()).toMatch(/^\s*ip daddr 10\.96\.207\.61 jump mark-for-masquerade$/m);
    expect(jsonOutput(LabStatusSchema, (await lab('status', '--json')).stdout).kubeProxy.masqueradeAll).toBe(true);
  });

  test("mysql is answered, SNATed to node1's address; the vpn drops nothing more", async () => {
    // half-open connections of the earlier requests retransmit their SYN-ACKs into the vpn's rule for a minute
    await inNs('pod-mysql', 'ss', '-Htn', '-K', 'state', 'syn-recv');
    const dropsBefore = await vpnDrops();
    const r = await request('mysql');
    expect(r.exitCode).toBe(0);
    expect(r.peer).toMatch(/^10\.0\.1\.11:\d+$/);
    const e = entryOf(await conntrack('node1'), r.sport);
    expect(e?.reply.src).toBe('10.244.2.2');
    expect(e?.reply.dst).toBe('10.0.1.11');
    expect(e?.flags).not.toContain('UNREPLIED');
    expect(await vpnDrops()).toBe(dropsBefore);
  });
});

describe('the other fix: masquerade-all off, then cluster-cidr 10.244.0.0/16', () => {
  test("mysql hangs again, then is answered with node1's address once off-cluster clients are marked", async () => {
    expect((await lab('set', 'masquerade-all', 'off')).exitCode).toBe(0);
    expect((await request('mysql')).exitCode).toBe(1);
    expect((await lab('set', 'cluster-cidr', '10.244.0.0/16')).exitCode).toBe(0);
    expect(await serviceChain()).toMatch(/ip saddr != 10\.244\.0\.0\/16 .*jump mark-for-masquerade/);
    const r = await request('mysql');
    expect(r.exitCode).toBe(0);
    const e = entryOf(await conntrack('node1'), r.sport);
    expect(e?.reply.dst).toBe('10.0.1.11');
    expect(r.peer).toBe(`10.0.1.11:${e?.reply.dport}`);
  });
});

describe('the walkthrough, which follows the mode of the lab that is up', () => {
  test('demo --proxy-mode iptables on this lab is refused in one line with the fix, and the lab stays up', async () => {
    const r = await natscope(['demo', '--auto', '--vm', 'off', '--proxy-mode', 'iptables', '--prefix', PREFIX]);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toBe(
      `natscope: the lab that is up (prefix ${PREFIX}) runs kube-proxy in nftables mode, and this asks for iptables mode\n  fix: leave out --proxy-mode (the walkthrough follows the lab that is up), or take it down first: sudo natscope lab down --prefix ${PREFIX}`,
    );
    expect((await lab('status', '--json')).exitCode).toBe(0);
  });
});

describe('lab down', () => {
  test("removes every namespace of the lab and leaves the host's ruleset as it was", async () => {
    expect((await lab('down')).exitCode).toBe(0);
    expect(namedNamespaces(PREFIX)).toEqual([]);
    expect(String((await execa('nft', ['list', 'ruleset'])).stdout)).toBe(hostRulesetBefore);
  });
});

// Waits until the tracer says its probes are attached.
async function attached(trace: ResultPromise): Promise<void> {
  let seen = '';
  trace.stderr?.on('data', (d: Buffer) => {
    seen += d.toString();
  });
  for (let i = 0; i < 400 && !/attached in/.test(seen); i++) await new Promise((r) => setTimeout(r, 50));
  expect(seen).toMatch(/attached in/);
}
