// natscope cluster on two real nodes: two micro-VMs, each its own kernel and
// its own clocks, joined by a virtual network (src/vm/qemu.ts, linkArgs): the
// incident, with node1 and node2 on separate kernels. Both run kube-proxy's
// own iptables rules (the lab's payload, src/lab/netns/kubeproxy.ts); node1's
// VM also holds the vpn (on the vpc, a bridge over its link) and the office
// behind it; node2's the mysql pod. The fake kubectl's `exec` reaches each VM
// through an exec server (test/cluster/guestExec.ts), so natscope's node
// script runs the real bpftrace, with the function probes, in each node's own
// kernel, and reads each node's clock there. What this shows that the
// one-host lab cannot: each node reports only what its own kernel saw; each
// node's monotonic clock (time since its own boot) is moved onto this
// machine's; the flow's hops come out in the order the request crossed them;
// and `cluster diagnose` judges from the DNAT it saw on node1 and the endpoint
// on node2. (The vpn shares node1's kernel, so node1's bpftrace reports its drop.)

import { mkdirSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { decodeEvent } from '../../src/events/codec.js';
import { FlowTracker } from '../../src/events/flows.js';
import { describeFlow } from '../../src/events/story.js';
import {
  type CtNewEvent,
  type DropEvent,
  isKernelEvent,
  type LabStatus,
  type NatEvent,
} from '../../src/events/types.js';
import { VPN_RULES } from '../../src/lab/netns/build.js';
import { nodePayload } from '../../src/lab/netns/kubeproxy.js';
import { renderStartup } from '../../src/kubeproxy/rules.js';
import { DiagnosisSchema } from '../../src/cluster/diagnose.js';
import { guestPortPath, TRACE_PORTS } from '../../src/vm/ports.js';
import { startVm, type VmHandle } from '../../src/vm/run.js';
import { CLI, jsonOutput } from '../cli.js';
import { FIXTURES, testTempDir } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';
import { GuestExec } from './guestExec.js';

const dir = testTempDir('natscope-two-nodes-');
const EXEC_SERVER = join(FIXTURES, 'vm', 'exec-server.cjs');

// The lab's own addresses: the vpc 10.0.1.0/24 (the vpn 10.0.1.2, node1 .11,
// node2 .12), the office 192.168.10.10 behind the vpn, mysql 10.244.2.2:3306 on
// node2 behind the ClusterIP 10.96.207.61:3306.
const recorded = recordedLabStatus();
const mysqlPod = recorded.pods.find((p) => p.name === 'mysql')!;
const mysqlSvc = recorded.services.find((s) => s.name === 'mysql')!;
const lab: LabStatus = {
  ...recorded,
  hosts: {
    office: recorded.hosts.office!,
    vpn: recorded.hosts.vpn!,
    node1: recorded.hosts.node1!,
    node2: recorded.hosts.node2!,
  },
  pods: [mysqlPod],
  services: [mysqlSvc],
};
const OFFICE = lab.hosts.office!.ip;
const VPN = lab.hosts.vpn!.ip;
const NODE1 = lab.hosts.node1!.ip;
const NODE2 = lab.hosts.node2!.ip;
const POD = mysqlPod.ip;
const SVC = mysqlSvc.clusterIP;
const PORT = mysqlSvc.port;

// a namespace and its end of a veth pair, addressed and up, with its default route if given
const netns = (name: string, dev: string, ip: string, via?: string) => `
ip netns exec ${name} ip addr add ${ip}/24 dev ${dev}
ip netns exec ${name} ip link set lo up
ip netns exec ${name} ip link set ${dev} up${via ? `\nip netns exec ${name} ip route add default via ${via}` : ''}`;

const SETUP = {
  // node1 on the vpc bridge over its link; the vpn beside it (its cloud-fabric rule drops
  // replies without a request), routing the Service CIDR to node1; the office behind the vpn
  node1: `
ip link add br0 type bridge
ip link set eth0 master br0
ip link set eth0 up
ip link set br0 up
ip addr add ${NODE1}/24 dev br0
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv4.conf.all.send_redirects=0
ip netns add vpn
ip link add v-vpn type veth peer name eth0 netns vpn
ip link set v-vpn master br0
ip link set v-vpn up
${netns('vpn', 'eth0', VPN)}
ip netns exec vpn sysctl -qw net.ipv4.ip_forward=1
ip netns add office
ip link add o-office type veth peer name eth0 netns office
ip link set o-office netns vpn
${netns('vpn', 'o-office', '192.168.10.1')}
${netns('office', 'eth0', OFFICE, '192.168.10.1')}
ip netns exec vpn ip route add 10.96.0.0/12 via ${NODE1}
ip netns exec vpn iptables-restore <<'EOF'
${VPN_RULES}EOF
ip route add 10.244.2.0/24 via ${NODE2}
ip route add 192.168.10.0/24 via ${VPN}`,
  // node2 and the mysql pod; the office's replies go to the vpn, as the VPC's route table says
  node2: `
ip link set eth0 up
ip addr add ${NODE2}/24 dev eth0
sysctl -qw net.ipv4.ip_forward=1
ip netns add mysql
ip link add v-mysql type veth peer name eth0 netns mysql
ip addr add 10.244.2.1/24 dev v-mysql
ip link set v-mysql up
${netns('mysql', 'eth0', POD, '10.244.2.1')}
ip route add 192.168.10.0/24 via ${VPN}`,
};

// The office connects to mysql's ClusterIP and reads its first line (within 6 s: exit 124 if none came).
const officeRequest = () =>
  nodes[0]!.exec.run([
    'ip',
    'netns',
    'exec',
    'office',
    'timeout',
    '6',
    'bash',
    '-c',
    `exec 3<>/dev/tcp/${SVC}/${PORT}; head -n1 <&3`,
  ]);

// kube-proxy's rules on a node, as the lab's kube-proxy writes them (startup jumps, then a full sync)
async function syncKubeProxy(n: Node, masqueradeAll: boolean): Promise<void> {
  const restore = async (payload: string) => {
    const r = await n.exec.run(['iptables-restore', '--noflush'], payload);
    expect(r.code, `${n.name}: iptables-restore: ${r.stderr}`).toBe(0);
  };
  if (!masqueradeAll) await restore(renderStartup());
  await restore(nodePayload({ ...lab.kubeProxy, masqueradeAll }));
}

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
      argv: [process.execPath, EXEC_SERVER, guestPortPath(TRACE_PORTS.out)],
      ports: [TRACE_PORTS.out],
      timeoutMs: 900_000,
      cpus: 1,
      memoryMb: 1536,
      link: { local: link(name), remote: link(other), mac: `52:54:00:00:00:0${i + 1}` },
    });
    nodes.push({ name, vm, exec: new GuestExec(vm, vm.ports.get(TRACE_PORTS.out)) });
  }
  await Promise.all(nodes.map((n) => n.vm.started));
  await Promise.all(nodes.map((n) => n.exec.ready));
  for (const n of nodes) {
    await n.exec.sh(SETUP[n.name]);
    await syncKubeProxy(n, false);
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
  const giveUp = new AbortController();
  const results = await Promise.all(
    nodes.map((n) =>
      Promise.race([
        n.vm.result,
        sleep(60_000, undefined, { signal: giveUp.signal }).then(
          () => n.vm.stop(),
          () => n.vm.result,
        ),
      ]),
    ),
  );
  giveUp.abort();
  for (const [i, r] of results.entries()) expect(r.failure, `${nodes[i]!.name}: ${r.detail}`).toBeNull();
  for (const n of nodes) expect(n.vm.leftovers()).toEqual([]);
});

// this machine's CLOCK_MONOTONIC, the clock natscope aligns every node's onto
const monotonicNs = () => Number(process.hrtime.bigint());

describe('natscope cluster on two micro-VMs as two nodes: separate kernels, separate clocks', () => {
  test("the office's request to mysql: node1's DNAT, node2's conntrack entry, each from its own kernel, the reply's drop, on this machine's clock, in causal order", async () => {
    const fake = fakeCluster(dir, labObjects(lab, ['node1', 'node2']));
    const before = monotonicNs();
    const trace = execa(
      process.execPath,
      [CLI, 'cluster', 'trace', '--nodes', 'node1,node2', '--probes', 'nat,conntrack,drop', '--json'],
      { reject: false, env: { ...fake.env, FAKE_KUBECTL_NODE_SOCKETS: sockets }, timeout: 400_000 },
    );
    // a failed assertion before the end still stops it in order
    onTestFinished(() => {
      if (trace.exitCode === null) trace.kill('SIGINT');
    });
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
    expect(stderr).toMatch(/tracing nat,conntrack,drop on node1 \(bpftrace [\d.]+\), node2 \(bpftrace [\d.]+\)/);

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

    // the incident: the pod's reply leaves node2 for the vpn, which never saw its request
    const request = await officeRequest();
    expect(request, 'the office gets no answer from mysql').toMatchObject({ code: 124, stdout: '' });

    // the whole lines written so far (a line may be read half-written)
    const events = () =>
      stdout
        .slice(0, stdout.lastIndexOf('\n') + 1)
        .split('\n')
        .filter(Boolean)
        .map((l, i) => decodeEvent(l, i + 1));
    const ofRequest = (e: ReturnType<typeof events>[number]): e is NatEvent | CtNewEvent =>
      (e.kind === 'nat' || e.kind === 'ct-new') && e.orig.src === OFFICE && e.orig.dport === PORT;
    const replyDrop = (e: ReturnType<typeof events>[number]): e is DropEvent =>
      e.kind === 'drop' && e.reason === 'NETFILTER_DROP' && e.packet.src === POD && e.packet.dst === OFFICE;
    for (
      let i = 0;
      i < 300 && !(events().some((e) => ofRequest(e) && e.host === 'node2') && events().some(replyDrop));
      i++
    )
      await new Promise((r) => setTimeout(r, 100));
    trace.kill('SIGINT');
    const result = await trace;
    const after = monotonicNs();
    // Ctrl-C's exit code: natscope stopped each node's bpftrace in order and deleted its pods
    expect(result.exitCode, stderr).toBe(130);

    // what the run printed, for a failure's message
    const said = () =>
      `${stderr.slice(-2000)}\n${events()
        .filter(isKernelEvent)
        .map((e) => `${e.host} ${e.kind} ${(e.t / 1e9).toFixed(3)}`)
        .join('; ')}`;
    const seen = events().filter(ofRequest);
    // node1: the connection as the office sent it, and its DNAT to the pod; node2: only what reached it, after the DNAT
    const dnat = seen.find((e): e is NatEvent => e.kind === 'nat' && e.manip === 'DNAT');
    expect(dnat, said()).toMatchObject({ host: 'node1', orig: { dst: SVC, dport: PORT }, to: { ip: POD, port: PORT } });
    expect(
      seen.find((e) => e.kind === 'ct-new' && e.host === 'node1'),
      said(),
    ).toMatchObject({ orig: { dst: SVC } });
    const onNode2 = seen.filter((e) => e.host === 'node2');
    expect(onNode2.length, said()).toBeGreaterThan(0);
    for (const e of onNode2) expect(e).toMatchObject({ kind: 'ct-new', orig: { dst: POD, dport: PORT } });
    // the pod's SYN-ACK, dropped by the vpn's rule: seen by node1's kernel (the vpn's), not node2's
    const drops = events().filter(replyDrop);
    expect(drops.length, said()).toBeGreaterThan(0);
    const vpnInode = Number(await nodes[0]!.exec.sh('stat -L -c %i /run/netns/vpn'));
    for (const d of drops) expect(d).toMatchObject({ host: 'node1', netns: vpnInode, packet: { sport: PORT } });

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
      expect(
        Math.abs(aligned - d.offsetNs - d.wallErrorNs) / 1e6,
        `${n.name}'s alignment\n${said()}`,
      ).toBeLessThanOrEqual(allowedMs);
    }
    // node2's wall clock really is about two seconds behind (plus the setting's own latency)
    expect(direct.get('node2')!.wallErrorNs / 1e6, said()).toBeLessThan(-NODE2_WALL_BEHIND_MS + 100);
    // the two kernels booted apart: their clocks differ from this machine's and from each other's
    expect(Math.abs(direct.get('node1')!.offsetNs - direct.get('node2')!.offsetNs)).toBeGreaterThan(1e6);
    // and every event is on this machine's clock, within the run (and node2's two seconds)
    for (const e of events().filter(isKernelEvent)) {
      expect(e.t).toBeGreaterThan(before - NODE2_WALL_BEHIND_MS * 1e6 - 0.5e9);
      expect(e.t).toBeLessThan(after + 0.5e9);
    }
    // so by time alone node2 saw the connection before node1 DNATed it there
    const firstOnNode2 = Math.min(...onNode2.map((e) => e.t));
    expect(firstOnNode2, said()).toBeLessThan(dnat!.t);

    // the flow told in the order the request went, whatever the two clocks say
    const tracker = new FlowTracker();
    for (const e of events()) tracker.add(e);
    const flow = tracker.flows().find((f) => f.nat.some((n) => n.orig.sport === dnat?.orig.sport));
    expect(flow, said()).toBeDefined();
    const story = describeFlow(flow!, lab);
    expect(
      story.hops.map((h) => h.host),
      `${story.path}\n${said()}`,
    ).toEqual(['office', 'node1', 'node2', 'mysql', 'node2', 'node1']);
    expect(story.hops[1]!.note).toBe(`DNAT ${SVC}:${PORT} ⇒ ${POD}:${PORT}`);
    expect(story.hops[5]).toMatchObject({ role: 'drop', note: 'NETFILTER_DROP' });

    expect(stderr, said()).toMatch(/ 0 lost;/);
    expect(fake.livePods()).toEqual([]);
    process.stderr.write(
      `  two nodes: ${story.path}; node2's conntrack entry by aligned time: ${((firstOnNode2 - dnat!.t) / 1e6).toFixed(1)} ms from node1's DNAT; alignment error against the direct reading (wall clock off by): ${nodes.map((n) => `${n.name} ${errorMs.get(n.name)!.toFixed(1)} ms (${(direct.get(n.name)!.wallErrorNs / 1e6).toFixed(1)} ms)`).join(', ')}; ${stderr.match(/clocks, onto this machine's: .*/)?.[0]}\n`,
    );
  });

  test("cluster diagnose svc/mysql: the office's reply bypasses node1, which holds the DNAT; with masqueradeAll on both nodes, the request pod is answered", {
    timeout: 600_000,
  }, async () => {
    const fake = fakeCluster(join(dir, 'diagnose'), labObjects(lab, ['node1', 'node2']));
    // the request pod (after the fix) runs in the office, a client outside the cluster, in node1's VM
    const env = {
      ...fake.env,
      FAKE_KUBECTL_NODE_SOCKETS: sockets,
      FAKE_KUBECTL_RUN_NODE: 'node1',
      FAKE_KUBECTL_RUN_NETNS: 'office',
    };
    const diagnose = (...args: string[]) =>
      execa(process.execPath, [CLI, 'cluster', 'diagnose', 'svc/mysql', '--nodes', 'node1,node2', '--json', ...args], {
        reject: false,
        env,
        timeout: 300_000,
      });
    const diagnosis = (result: { stdout: unknown; stderr: unknown }) => {
      const d = jsonOutput(DiagnosisSchema.nullable(), String(result.stdout) || 'null');
      expect(d, String(result.stderr)).not.toBeNull();
      return d!;
    };

    // as found: natscope watches for the office's traffic, and the office's request gets no answer
    const watching = diagnose('--from-ip', OFFICE, '--wait', '240');
    onTestFinished(() => {
      if (watching.exitCode === null) watching.kill('SIGINT');
    });
    let stderr = '';
    watching.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    for (let i = 0; i < 2400 && !stderr.includes('waiting up to') && watching.exitCode === null; i++) await sleep(100);
    expect(stderr).toContain(`waiting up to 240 s for ${OFFICE}'s traffic`);
    const request = await officeRequest();
    expect(request.code, 'the office gets no answer').toBe(124);
    const watched = await watching;
    expect(watched.exitCode, stderr).toBe(1);
    const broken = diagnosis(watched);
    expect(broken.verdict, JSON.stringify(broken, null, 1)).toBe('reply-bypasses-dnat');
    expect(broken.dnat).toMatchObject({
      node: 'node1',
      from: `${SVC}:${PORT}`,
      to: `${POD}:${PORT}`,
      endpointNode: 'node2',
      endpointPod: 'default/mysql',
    });
    expect(broken.snat).toBeNull();
    expect(broken.client).toMatch(new RegExp(`^${OFFICE.replaceAll('.', '\\.')}:\\d+$`));
    // the drop the verdict's cause leads to: the SYN-ACK, at the vpn (which shares node1's kernel here)
    expect(broken.drops.find((d) => d.direction === 'reply')).toMatchObject({
      reason: 'NETFILTER_DROP',
      nodes: ['node1'],
      netns: Number(await nodes[0]!.exec.sh('stat -L -c %i /run/netns/vpn')),
    });

    // the fix: kube-proxy's masqueradeAll on both nodes; a request pod in the office is answered
    for (const n of nodes) await syncKubeProxy(n, true);
    const answered = await diagnose();
    expect(answered.exitCode, String(answered.stderr)).toBe(0);
    expect(String(answered.stderr)).toContain('the request pod was answered');
    const fixed = diagnosis(answered);
    expect(fixed.verdict).toBe('answered');
    expect(fixed.snat).toEqual({ node: 'node1', to: NODE1 });
    expect(fixed.drops.filter((d) => d.reason === 'NETFILTER_DROP')).toEqual([]);
    expect(fake.livePods()).toEqual([]);
    process.stderr.write(`  two nodes, as found: ${broken.summary}\n  with masqueradeAll: ${fixed.summary}\n`);
  });
});
