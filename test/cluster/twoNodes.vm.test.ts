// natscope cluster trace on two real nodes: two micro-VMs, each its own
// kernel and its own clocks, joined by a virtual network (src/vm/qemu.ts,
// linkArgs). node1 holds kube-proxy's DNAT for the lab's mysql Service and an
// office client behind it; node2 holds the mysql pod. The fake kubectl's
// `exec` reaches each VM through an exec server (test/cluster/guestExec.ts),
// so natscope's node script runs the real bpftrace, with the function probes
// (nat, conntrack), in each node's own kernel, and reads each node's clock
// there. What this shows that the one-host lab cannot: each node reports
// only what its own kernel saw; each node's monotonic clock (time since its
// own boot) is moved onto this machine's; and the flow's hops come out in
// the order the request crossed them.

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeEvent } from '../../src/events/codec.js';
import { FlowTracker } from '../../src/events/flows.js';
import { describeFlow } from '../../src/events/story.js';
import { type CtNewEvent, isKernelEvent, type LabStatus, type NatEvent } from '../../src/events/types.js';
import { startVm, type VmHandle } from '../../src/vm/run.js';
import { CLI } from '../cli.js';
import { FIXTURES, testTempDir } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';
import { GuestExec } from './guestExec.js';

const dir = testTempDir('natscope-two-nodes-');
const EXEC_SERVER = join(FIXTURES, 'vm', 'exec-server.cjs');

// The lab's own addresses: node1 10.0.1.11 and node2 10.0.1.12 on the link,
// the office 192.168.10.10 behind node1, mysql 10.244.2.2:3306 on node2 behind
// the ClusterIP 10.96.207.61:3306.
const recorded = recordedLabStatus();
const mysqlPod = recorded.pods.find((p) => p.name === 'mysql')!;
const mysqlSvc = recorded.services.find((s) => s.name === 'mysql')!;
const lab: LabStatus = {
  ...recorded,
  hosts: { office: recorded.hosts.office!, node1: recorded.hosts.node1!, node2: recorded.hosts.node2! },
  pods: [mysqlPod],
  services: [mysqlSvc],
};
const OFFICE = lab.hosts.office!.ip;
const NODE1 = lab.hosts.node1!.ip;
const NODE2 = lab.hosts.node2!.ip;
const POD = mysqlPod.ip;
const SVC = mysqlSvc.clusterIP;
const PORT = mysqlSvc.port;

// kube-proxy's DNAT for the Service, as every node has it (it also turns conntrack on in the node's namespace)
const dnatRule = `iptables -t nat -A PREROUTING -d ${SVC}/32 -p tcp --dport ${PORT} -j DNAT --to-destination ${POD}:${PORT}`;

// one namespace behind a node, on a veth pair: the office (node1) or the pod (node2)
const behind = (netns: string, ip: string, gateway: string) => `
ip netns add ${netns}
ip link add v-${netns} type veth peer name eth0 netns ${netns}
ip addr add ${gateway}/24 dev v-${netns}
ip link set v-${netns} up
ip netns exec ${netns} ip addr add ${ip}/24 dev eth0
ip netns exec ${netns} ip link set lo up
ip netns exec ${netns} ip link set eth0 up
ip netns exec ${netns} ip route add default via ${gateway}`;

const SETUP = {
  node1: `
ip link set eth0 up
ip addr add ${NODE1}/24 dev eth0
sysctl -qw net.ipv4.ip_forward=1
${behind('office', OFFICE, '192.168.10.1')}
ip route add 10.244.2.0/24 via ${NODE2}
${dnatRule}`,
  node2: `
ip link set eth0 up
ip addr add ${NODE2}/24 dev eth0
sysctl -qw net.ipv4.ip_forward=1
${behind('mysql', POD, '10.244.2.1')}
ip route add 192.168.10.0/24 via ${NODE1}
${dnatRule}`,
};

const NODE2_WALL_BEHIND_MS = 2000;

interface Node {
  name: 'node1' | 'node2';
  vm: VmHandle;
  exec: GuestExec;
  relay?: Server;
}
const nodes: Node[] = [];
const sockets = join(dir, 'nodes');

beforeAll(async () => {
  mkdirSync(join(dir, 'link'), { recursive: true });
  mkdirSync(sockets, { recursive: true });
  const link = (name: string) => join(dir, 'link', `${name}.sock`);
  for (const [i, name] of (['node1', 'node2'] as const).entries()) {
    const other = name === 'node1' ? 'node2' : 'node1';
    const vm = await startVm({
      argv: [process.execPath, EXEC_SERVER],
      timeoutMs: 900_000,
      cpus: 1,
      memoryMb: 1536,
      link: { local: link(name), remote: link(other), mac: `52:54:00:00:00:0${i + 1}` },
    });
    nodes.push({ name, vm, exec: new GuestExec(vm) });
  }
  await Promise.all(nodes.map((n) => n.vm.started));
  await Promise.all(nodes.map((n) => n.exec.ready));
  for (const n of nodes) {
    await n.exec.sh(SETUP[n.name]);
    n.relay = await n.exec.relay(join(sockets, `${n.name}.sock`));
  }
  // mysql's stand-in: answers every connection with one line, in the pod's namespace on node2
  nodes[1]!.exec.start([
    'ip',
    'netns',
    'exec',
    'mysql',
    process.execPath,
    '-e',
    `require('net').createServer((s) => s.end('mysql on node2\\n')).listen(${PORT})`,
  ]);
  // Wall clocks: a guest's starts from the emulated RTC, to the second. node1's is set to this
  // machine's; node2's two seconds behind it, as a node's without NTP can be: natscope's
  // alignment goes through wall time, so node2's events land two seconds early, before the
  // DNAT on node1 that sent them there (the command's own latency, a few tens of ms, adds to both).
  await nodes[0]!.exec.sh(`date -s @${(Date.now() / 1000).toFixed(3)} > /dev/null`);
  await nodes[1]!.exec.sh(`date -s @${((Date.now() - NODE2_WALL_BEHIND_MS) / 1000).toFixed(3)} > /dev/null`);
  // the link is up: node1 reaches node2 (the first frames may be lost while the other VM boots)
  await nodes[0]!.exec.sh(`for i in $(seq 30); do ping -c1 -W1 ${NODE2} >/dev/null && exit 0; done; exit 1`);
});

afterAll(async () => {
  for (const n of nodes) n.relay?.close();
  // the exec servers kill what still runs and exit; the VMs power off (stopped if one does not within 60 s)
  for (const n of nodes) n.exec.quit();
  const results = await Promise.all(
    nodes.map((n) => Promise.race([n.vm.result, sleep(60_000).then(() => n.vm.stop())])),
  );
  for (const [i, r] of results.entries()) expect(r.failure, `${nodes[i]!.name}: ${r.detail}`).toBeNull();
  for (const n of nodes) expect(n.vm.leftovers()).toEqual([]);
});

// this machine's CLOCK_MONOTONIC, the clock natscope aligns every node's onto
const monotonicNs = () => Number(process.hrtime.bigint());

describe('natscope cluster trace on two micro-VMs as two nodes: separate kernels, separate clocks', () => {
  test("the office's request to mysql: node1's DNAT, node2's conntrack entry, each from its own kernel, on this machine's clock, in causal order", async () => {
    const fake = fakeCluster(dir, labObjects(lab, ['node1', 'node2']));
    const before = monotonicNs();
    const trace = execa(
      process.execPath,
      [CLI, 'cluster', 'trace', '--nodes', 'node1,node2', '--probes', 'nat,conntrack', '--json'],
      { reject: false, env: { ...fake.env, FAKE_KUBECTL_NODE_SOCKETS: sockets }, timeout: 400_000 },
    );
    let stderr = '';
    trace.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let stdout = '';
    trace.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    for (let i = 0; i < 3000 && !/tracing .* on node1/.test(stderr) && trace.exitCode === null; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toMatch(/tracing nat,conntrack on node1 \(bpftrace [\d.]+\), node2 \(bpftrace [\d.]+\)/);

    // Each guest's clocks against this machine's, read directly, from the host's side of one
    // exec (its round trip bounds the reading): the monotonic offset natscope should find
    // (from /proc/uptime, not natscope's /proc/timer_list), and how far the guest's wall clock is off.
    const direct = new Map<string, { offsetNs: number; wallErrorNs: number; halfTripNs: number }>();
    for (const n of nodes) {
      const [m0, w0] = [monotonicNs(), Date.now()];
      const [wall, uptime] = (await n.exec.sh('date +%s%N; cat /proc/uptime')).split('\n');
      const [m1, w1] = [monotonicNs(), Date.now()];
      direct.set(n.name, {
        offsetNs: (m0 + m1) / 2 - Number.parseFloat(uptime!.split(' ')[0]!) * 1e9,
        wallErrorNs: Number(wall) - ((w0 + w1) / 2) * 1e6,
        halfTripNs: (m1 - m0) / 2,
      });
      process.stderr.write(`  ${n.name}: direct reading's round trip ${((m1 - m0) / 1e6).toFixed(1)} ms\n`);
    }

    const request = await nodes[0]!.exec.run([
      'ip',
      'netns',
      'exec',
      'office',
      'bash',
      '-c',
      `exec 3<>/dev/tcp/${SVC}/${PORT}; timeout 10 head -n1 <&3`,
    ]);
    expect(request, 'the office reaches mysql through the Service').toMatchObject({
      code: 0,
      stdout: 'mysql on node2\n',
    });

    const events = () =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((l, i) => decodeEvent(l, i + 1));
    const ofRequest = (e: ReturnType<typeof events>[number]): e is NatEvent | CtNewEvent =>
      (e.kind === 'nat' || e.kind === 'ct-new') && e.orig.src === OFFICE && e.orig.dport === PORT;
    for (let i = 0; i < 300 && !events().some((e) => ofRequest(e) && e.host === 'node2'); i++)
      await new Promise((r) => setTimeout(r, 100));
    trace.kill('SIGINT');
    const result = await trace;
    const after = monotonicNs();
    // Ctrl-C's exit code: natscope stopped each node's bpftrace in order and deleted its pods
    expect(result.exitCode, stderr).toBe(130);

    const seen = events().filter(ofRequest);
    // node1: the connection as the office sent it, and its DNAT to the pod; node2: only what reached it, after the DNAT
    const dnat = seen.find((e): e is NatEvent => e.kind === 'nat' && e.manip === 'DNAT');
    expect(dnat).toMatchObject({ host: 'node1', orig: { dst: SVC, dport: PORT }, to: { ip: POD, port: PORT } });
    expect(seen.find((e) => e.kind === 'ct-new' && e.host === 'node1')).toMatchObject({ orig: { dst: SVC } });
    const onNode2 = seen.filter((e) => e.host === 'node2');
    expect(onNode2.length).toBeGreaterThan(0);
    for (const e of onNode2) expect(e).toMatchObject({ kind: 'ct-new', orig: { dst: POD, dport: PORT } });

    // Each node's clock as natscope aligned it, against the direct reading: off by what the
    // node's wall clock is off (docs/cluster.md, "Clocks"), within natscope's stated reading
    // window, and the direct reading's own error: each of its two clocks was read somewhere in
    // the round trip (half of it either way), /proc/uptime to 10 ms, Date.now() to 1 ms.
    const errorMs = new Map<string, number>();
    for (const n of nodes) {
      const m = new RegExp(`${n.name}: ([+-])([\\d.]+) ms, ±([\\d.]+) ms read`).exec(stderr);
      expect(m, stderr).not.toBeNull();
      const aligned = (m![1] === '-' ? -1 : 1) * Number(m![2]) * 1e6;
      const d = direct.get(n.name)!;
      errorMs.set(n.name, (aligned - d.offsetNs) / 1e6);
      const allowedMs = Number(m![3]) + (2 * d.halfTripNs) / 1e6 + 10 + 1;
      expect(Math.abs(aligned - d.offsetNs - d.wallErrorNs) / 1e6, `${n.name}'s alignment`).toBeLessThanOrEqual(
        allowedMs,
      );
    }
    // node2's wall clock really is about two seconds behind (plus the setting's own latency)
    expect(direct.get('node2')!.wallErrorNs / 1e6).toBeLessThan(-NODE2_WALL_BEHIND_MS + 100);
    // the two kernels booted apart: their clocks differ from this machine's and from each other's
    expect(Math.abs(direct.get('node1')!.offsetNs - direct.get('node2')!.offsetNs)).toBeGreaterThan(1e6);
    // and every event is on this machine's clock, within the run (and node2's two seconds)
    for (const e of events().filter(isKernelEvent)) {
      expect(e.t).toBeGreaterThan(before - NODE2_WALL_BEHIND_MS * 1e6 - 0.5e9);
      expect(e.t).toBeLessThan(after + 0.5e9);
    }
    // so by time alone node2 saw the connection before node1 DNATed it there
    const firstOnNode2 = Math.min(...onNode2.map((e) => e.t));
    expect(firstOnNode2).toBeLessThan(dnat!.t);

    // the flow told in the order the request went, whatever the two clocks say
    const tracker = new FlowTracker();
    for (const e of events()) tracker.add(e);
    const flow = tracker.flows().find((f) => f.nat.some((n) => n === dnat || n.orig.sport === dnat?.orig.sport));
    expect(flow).toBeDefined();
    const story = describeFlow(flow!, lab);
    expect(story.hops.slice(0, 4).map((h) => h.host)).toEqual(['office', 'node1', 'node2', 'mysql']);
    expect(story.hops[1]!.note).toBe(`DNAT ${SVC}:${PORT} ⇒ ${POD}:${PORT}`);

    expect(stderr).toMatch(/0 lost/);
    expect(fake.livePods()).toEqual([]);
    process.stderr.write(
      `  two nodes: ${story.path}; node2's conntrack entry by aligned time: ${((firstOnNode2 - dnat!.t) / 1e6).toFixed(1)} ms from node1's DNAT; alignment error against the direct reading (wall clock off by): ${nodes.map((n) => `${n.name} ${errorMs.get(n.name)!.toFixed(1)} ms (${(direct.get(n.name)!.wallErrorNs / 1e6).toFixed(1)} ms)`).join(', ')}; ${stderr.match(/clocks, onto this machine's: .*/)?.[0]}\n`,
    );
  });
});
