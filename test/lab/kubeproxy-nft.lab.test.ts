// kube-proxy's nftables ruleset on a real kernel (root): the transaction
// natscope renders for the lab's node1 loads with one `nft -f` into a
// network namespace of the test's own, nft lists back what the model holds,
// the listing loads again unchanged, and packets meet it as kube-proxy
// means them to: a connection to the mysql ClusterIP is DNATed to its pod,
// masqueraded or not as the options say; another port of the ClusterIP and
// a ping of it are rejected; an unallocated address of the Service CIDR is
// dropped.
//
//   node netns: n0 10.244.2.1/24 + 192.168.10.10/32 (an off-cluster source),
//               route 10.96.0.0/16 via the pod, kube-proxy's table
//   pod netns:  p0 10.244.2.2/24 (the mysql endpoint, listening on 3306)
//               + 10.96.0.99/32 (an address no Service holds; it would answer)

import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { outlineOfListing, outlineOfState } from '../../src/kubeproxy/nftables/listing.js';
import { renderTransaction } from '../../src/kubeproxy/nftables/render.js';
import { applyOperations } from '../../src/kubeproxy/nftables/state.js';
import { type NftablesProxyOptions, syncOperations } from '../../src/kubeproxy/nftables/sync.js';
import { type ConntrackEntry, parseConntrack } from '../../src/lab/conntrack.js';
import { inNetns, ipBatch, listNetns } from '../../src/lab/netns/exec.js';
import { HOSTS, NETWORKS, servicePorts } from '../../src/lab/netns/topology.js';

const NODE = 'natscope-tnft-node';
const POD = 'natscope-tnft-pod';
const COPY = 'natscope-tnft-copy';
const MYSQL = { clusterIP: '10.96.207.61', port: 3306, pod: '10.244.2.2' };
const NODE_POD_SIDE = '10.244.2.1';
const OFF_CLUSTER = '192.168.10.10';
const UNALLOCATED = '10.96.0.99';

const INCIDENT: NftablesProxyOptions = {
  masqueradeAll: false,
  clusterCIDR: null,
  nodePortIPs: [HOSTS.node1.ip],
  serviceCIDRs: [NETWORKS.services],
};
const CLUSTER_CIDR: NftablesProxyOptions = { ...INCIDENT, clusterCIDR: NETWORKS.pods };
const MASQUERADE_ALL: NftablesProxyOptions = { ...INCIDENT, masqueradeAll: true };

async function removeNamespaces(): Promise<void> {
  const present = new Set(await listNetns());
  const ours = [NODE, POD, COPY].filter((n) => present.has(n));
  if (ours.length)
    await ipBatch(
      null,
      ours.map((n) => `netns del ${n}`),
    );
}

async function load(ns: string, options: NftablesProxyOptions): Promise<void> {
  // a namespace of the test's own: start from an empty ruleset each time
  await inNetns(ns, ['nft', 'flush', 'ruleset']);
  await inNetns(ns, ['nft', '-f', '-'], { input: renderTransaction(servicePorts(), options) });
}

const listJson = async (ns: string) =>
  String((await inNetns(ns, ['nft', '-j', 'list', 'table', 'ip', 'kube-proxy'])).stdout);
const listText = async (ns: string) => String((await inNetns(ns, ['nft', 'list', 'table', 'ip', 'kube-proxy'])).stdout);

// A TCP client in the node's namespace: prints what became of one connection.
const CLIENT = `
const net = require('node:net');
const [host, port, localAddress, ms] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), localAddress });
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
const timer = setTimeout(() => done({ outcome: 'timeout' }), Number(ms));
s.on('data', (d) => { clearTimeout(timer); done({ outcome: 'answered', data: String(d).trim() }); });
s.on('error', (e) => { clearTimeout(timer); done({ outcome: e.code }); });
`;

interface Attempt {
  outcome: string;
  data?: string;
}

async function connect(host: string, port: number, from: string, ms = 1500): Promise<Attempt> {
  const r = await inNetns(NODE, [process.execPath, '-e', CLIENT, host, String(port), from, String(ms)]);
  const parsed: unknown = JSON.parse(String(r.stdout));
  if (typeof parsed !== 'object' || parsed === null || !('outcome' in parsed) || typeof parsed.outcome !== 'string')
    throw new Error(`client printed ${String(r.stdout)}`);
  return 'data' in parsed && typeof parsed.data === 'string'
    ? { outcome: parsed.outcome, data: parsed.data }
    : { outcome: parsed.outcome };
}

async function mysqlEntries(): Promise<ConntrackEntry[]> {
  const r = await inNetns(NODE, ['conntrack', '-L', '-p', 'tcp'], { reject: false });
  return parseConntrack(`${String(r.stdout)}\n${String(r.stderr)}`).filter(
    (e) => e.orig.dst === MYSQL.clusterIP && e.orig.dport === MYSQL.port,
  );
}

let listener: ResultPromise | undefined;

describe("kube-proxy's nftables ruleset, loaded into a network namespace", () => {
  beforeAll(async () => {
    await removeNamespaces();
    await ipBatch(
      null,
      [NODE, POD, COPY].map((n) => `netns add ${n}`),
    );
    await ipBatch(NODE, [
      'link set lo up',
      `link add n0 type veth peer name p0 netns ${POD}`,
      `addr add ${NODE_POD_SIDE}/24 dev n0`,
      `addr add ${OFF_CLUSTER}/32 dev n0`,
      'link set n0 up',
      `route add ${NETWORKS.services} via ${MYSQL.pod}`,
    ]);
    await ipBatch(POD, [
      'link set lo up',
      `addr add ${MYSQL.pod}/24 dev p0`,
      `addr add ${UNALLOCATED}/32 dev p0`,
      'link set p0 up',
    ]);
    const server = `require('node:net').createServer((s) => s.end('mysql\\n')).listen(${MYSQL.port}, '${MYSQL.pod}', () => console.log('listening'))`;
    const child = execa('ip', ['netns', 'exec', POD, process.execPath, '-e', server], { reject: false });
    listener = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (d: Buffer) => {
        if (String(d).includes('listening')) resolve();
      });
      child.on('exit', () => reject(new Error('the pod listener exited')));
    });
  });

  afterAll(async () => {
    if (listener) {
      listener.kill('SIGTERM');
      await listener;
    }
    await removeNamespaces();
  });

  describe.each([
    ['the incident (no masqueradeAll, no clusterCIDR)', INCIDENT],
    ['clusterCIDR 10.244.0.0/16', CLUSTER_CIDR],
    ['masqueradeAll', MASQUERADE_ALL],
  ])('%s', (_name, options) => {
    test("one nft -f loads node1's transaction, and nft lists what the model holds", async () => {
      await load(NODE, options);
      const kernel = outlineOfListing(await listJson(NODE));
      const model = outlineOfState(applyOperations(syncOperations(servicePorts(), options)));
      expect(kernel).toEqual(model);
      expect(Object.keys(kernel.chains)).toContain('service-OHLJZKKC-default/mysql/tcp/mysql');
    });
  });

  test("nft's listing of the table loads again unchanged (it round-trips)", async () => {
    await load(NODE, CLUSTER_CIDR);
    const first = await listText(NODE);
    expect(first).toContain('chain mark-for-masquerade');
    await inNetns(COPY, ['nft', '-f', '-'], { input: first });
    expect(await listText(COPY)).toBe(first);
  });

  describe('packets', () => {
    test('without the table: the unallocated address answers, other ports of the ClusterIP go unanswered', async () => {
      await inNetns(NODE, ['nft', 'flush', 'ruleset']);
      expect((await connect(UNALLOCATED, 80, NODE_POD_SIDE)).outcome).toBe('ECONNREFUSED');
      expect((await connect(MYSQL.clusterIP, 9999, NODE_POD_SIDE)).outcome).toBe('timeout');
    });

    test('with it: another port of the ClusterIP is rejected (cluster-ips-check), the unallocated address dropped', async () => {
      await load(NODE, INCIDENT);
      expect((await connect(MYSQL.clusterIP, 9999, NODE_POD_SIDE)).outcome).toBe('ECONNREFUSED');
      expect((await connect(UNALLOCATED, 80, NODE_POD_SIDE)).outcome).toBe('timeout');
    });

    test('a ping of the ClusterIP gets an ICMP reject; without the table it goes unanswered', async () => {
      const ping = async () =>
        String((await inNetns(NODE, ['ping', '-c1', '-W1', MYSQL.clusterIP], { reject: false })).stdout);
      await inNetns(NODE, ['nft', 'flush', 'ruleset']);
      expect(await ping()).toContain('1 packets transmitted, 0 received');
      expect(await ping()).not.toContain('Unreachable');
      await load(NODE, INCIDENT);
      expect(await ping()).toContain('Destination Port Unreachable');
    });

    test('the incident: an off-cluster client is DNATed to the pod but not masqueraded, so the pod cannot answer it', async () => {
      await load(NODE, INCIDENT);
      await inNetns(NODE, ['conntrack', '-F'], { reject: false });
      expect((await connect(MYSQL.clusterIP, MYSQL.port, OFF_CLUSTER)).outcome).toBe('timeout');
      const [entry, ...rest] = await mysqlEntries();
      expect(rest).toEqual([]);
      expect(entry?.orig.src).toBe(OFF_CLUSTER);
      expect(entry?.reply).toMatchObject({ src: MYSQL.pod, sport: MYSQL.port, dst: OFF_CLUSTER });
      expect(entry?.reply.dport).toBe(entry?.orig.sport);
      expect(entry?.flags).toContain('UNREPLIED');
    });

    test.each([
      ['clusterCIDR', CLUSTER_CIDR],
      ['masqueradeAll', MASQUERADE_ALL],
    ])('%s: the off-cluster client is masqueraded to the node and the pod answers', async (_name, options) => {
      await load(NODE, options);
      await inNetns(NODE, ['conntrack', '-F'], { reject: false });
      expect(await connect(MYSQL.clusterIP, MYSQL.port, OFF_CLUSTER)).toEqual({ outcome: 'answered', data: 'mysql' });
      const [entry] = await mysqlEntries();
      expect(entry?.orig.src).toBe(OFF_CLUSTER);
      expect(entry?.reply).toMatchObject({ src: MYSQL.pod, sport: MYSQL.port, dst: NODE_POD_SIDE });
    });

    test('clusterCIDR: a client inside the cluster CIDR keeps its address (no masquerade)', async () => {
      await load(NODE, CLUSTER_CIDR);
      await inNetns(NODE, ['conntrack', '-F'], { reject: false });
      expect(await connect(MYSQL.clusterIP, MYSQL.port, NODE_POD_SIDE)).toEqual({ outcome: 'answered', data: 'mysql' });
      const [entry] = await mysqlEntries();
      expect(entry?.reply).toMatchObject({ src: MYSQL.pod, dst: NODE_POD_SIDE });
      expect(entry?.reply.dport).toBe(entry?.orig.sport);
    });
  });
});
