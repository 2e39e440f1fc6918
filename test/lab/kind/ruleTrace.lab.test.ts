// The kind lab's rule tracing against real kernels (root). kind cannot run
// here, so the containers are stood in for by processes started inside a
// real netns lab's namespaces (office, vpn, node1, node2, with kube-proxy's
// rules loaded by natscope's netns lab): the kind lab reaches a container
// only by its PID (/proc/PID/ns/net, nsenter --target PID), so it traces
// these the way it would trace the containers. Real nsenter, nft and
// request program; kubectl is the fake one (it answers the kube-proxy
// ConfigMap, kept in step with the netns lab's kube-proxy), and docker a
// stand-in whose `exec` runs the command in the stand-in node's namespace,
// so the node's rules are read from the real kernel without a Docker
// daemon. The topology is built here, with the netns lab's addresses and
// kind's node names.

import { type ChildProcess, spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { IptablesBackend, ProxyMode } from '../../../src/events/types.js';
import { editKubeProxyConfig } from '../../../src/lab/kind/kubeproxy-config.js';
import { Kubectl } from '../../../src/lab/kind/kubectl.js';
import { kindNames, officePlan } from '../../../src/lab/kind/names.js';
import { KindLab } from '../../../src/lab/kind/running.js';
import type { KindTopology, NodeRole } from '../../../src/lab/kind/topology.js';
import { NetnsLab } from '../../../src/lab/netns/lab.js';
import { HOSTS, PODS, SERVICES, netnsName } from '../../../src/lab/netns/topology.js';
import { chainNames } from '../../../src/ruletrace/rulePath.js';
import { traceLeftovers } from '../../ruletrace/leftovers.js';
import { type Fakes, output, useFakes } from './fakes.js';
import { packet } from '../../ruletrace/paths.js';

const PREFIX = 'natscope-krt-';
const NAMES = kindNames(PREFIX);
const WORKER = `${NAMES.cluster}-worker`;
const WORKER2 = `${NAMES.cluster}-worker2`;
const NODE1 = `${WORKER} (node1)`;
const NODE2 = `${WORKER2} (node2)`;
const MYSQL_POD = '10.244.2.2:3306';
const HOST_NAMES = ['office', 'vpn', 'node1', 'node2'] as const;

// a stand-in container: a process in the lab host's namespace
function startIn(host: string): ChildProcess {
  return spawn('ip', ['netns', 'exec', netnsName(PREFIX, host), 'sleep', '600'], { stdio: 'ignore' });
}

// the kind lab as natscope would discover it, with the netns lab's addresses
function topology(pids: Record<string, number>): KindTopology {
  const container: Record<string, string> = { node1: WORKER, node2: WORKER2 };
  const plan = officePlan('192.168.10.0/24');
  return {
    names: NAMES,
    plan,
    kindNetwork: 'kind',
    nodes: (['node1', 'node2'] as const).map((role) => ({
      role,
      container: container[role] ?? '',
      ip: HOSTS[role].ip,
      podCIDR: HOSTS[role].podCIDR,
      pid: pids[role] ?? 0,
    })),
    vpn: { pid: pids.vpn ?? 0, ip: HOSTS.vpn.ip, officeIp: HOSTS.vpn.tunnelIp },
    office: { pid: pids.office ?? 0, ip: HOSTS.office.ip },
    pods: PODS.map((p) => ({
      name: p.name,
      namespace: p.namespace,
      uid: `uid-${p.name}`,
      ip: p.ip,
      port: p.port,
      proto: p.proto,
      container: container[p.node] ?? '',
      role: p.node satisfies NodeRole,
      ready: true,
    })),
    services: SERVICES.map((s) => ({
      namespace: s.namespace,
      name: s.name,
      clusterIP: s.clusterIP,
      ports: [{ name: s.portName, port: s.port, protocol: 'TCP' }],
    })),
  };
}

// what rule tracing could leave in the stand-ins' namespaces (the netns lab's)
const leftBehind = () => traceLeftovers(PREFIX);

// the kube-proxy configuration kind's ConfigMap would hold for the netns lab's
function configConf(mode: ProxyMode, masqueradeAll: boolean): string {
  // the mode first: masqueradeAll is set in that mode's block
  const conf = output('kube-proxy-config.conf');
  const inMode = mode === 'nftables' ? conf.replace(/^mode: iptables$/m, 'mode: nftables') : conf;
  return editKubeProxyConfig(inMode, { masqueradeAll, clusterCIDR: null });
}

// kube-proxy's mode, and the iptables the node image chose at boot (legacy: read with xt TRACE)
const LABS: { mode: ProxyMode; iptables: IptablesBackend }[] = [
  { mode: 'iptables', iptables: 'nft' },
  { mode: 'nftables', iptables: 'nft' },
  { mode: 'iptables', iptables: 'legacy' },
];

for (const { mode, iptables } of LABS) {
  describe(`the kind lab's rule tracing on real namespaces, kube-proxy in ${mode} mode, iptables-${iptables}`, () => {
    const names = chainNames(mode);
    const sleepers: ChildProcess[] = [];
    let netnsLab: NetnsLab;
    let lab: KindLab;
    let f: Fakes;

    beforeAll(async () => {
      netnsLab = await NetnsLab.up({
        prefix: PREFIX,
        masqueradeAll: false,
        clusterCIDR: null,
        proxyMode: mode,
        iptables,
      });
      const path = process.env.PATH ?? '';
      const stateDir = process.env.NATSCOPE_STATE_DIR;
      f = useFakes({ clusters: ['natscope'], configConf: configConf(mode, false) }, { only: ['kubectl'] });
      // the fake kubectl first, then this machine's own tools; the netns lab's state where it is
      process.env.PATH = `${process.env.PATH}:${path}`;
      if (stateDir === undefined) delete process.env.NATSCOPE_STATE_DIR;
      else process.env.NATSCOPE_STATE_DIR = stateDir;
      const pids: Record<string, number> = {};
      for (const host of HOST_NAMES) {
        const child = startIn(host);
        sleepers.push(child);
        pids[host] = child.pid ?? 0;
      }
      // until each stand-in has entered its namespace
      const deadline = Date.now() + 5000;
      for (const host of HOST_NAMES) {
        const want = nsId(`/run/netns/${netnsName(PREFIX, host)}`);
        while (nsId(`/proc/${pids[host]}/ns/net`) !== want) {
          if (Date.now() > deadline) throw new Error(`the stand-in for ${host} never entered its namespace`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      standInDocker(join(f.dir, 'bin', 'docker'), { [WORKER]: pids.node1 ?? 0, [WORKER2]: pids.node2 ?? 0 });
      lab = new KindLab(NAMES, officePlan('192.168.10.0/24'), new Kubectl(join(f.dir, 'kubeconfig')), topology(pids));
    }, 120_000);

    afterAll(async () => {
      for (const s of sleepers) s.kill('SIGKILL');
      f?.restore();
      await NetnsLab.down(PREFIX);
    });

    test("before the fix: node1's container DNATs the request without marking it, no SNAT, the vpn drops the reply; hosts named as kind names them", async () => {
      const r = await lab.ruleTrace('mysql', 1500);
      expect(r.request.outcome).toBe('timeout');
      const path = r.rulePath.packets;
      const node1 = packet(path, NODE1, 'request');
      expect(node1.steps.find((s) => s.meaning === `DNAT to ${MYSQL_POD}`)?.chain).toMatch(names.sep);
      expect(node1.steps.some((s) => s.verdict === `jump ${names.mark}`)).toBe(false);
      expect(node1.outcome).toContain(`no ${names.mark}: clusterCIDR unset, masqueradeAll false`);
      expect(packet(path, NODE2, 'request').packet).toMatch(/^192\.168\.10\.10:\d+ → 10\.244\.2\.2:3306 \(syn\)$/);
      const vpnReply = packet(path, 'vpn', 'reply');
      expect(vpnReply.packet).toContain(`${MYSQL_POD} → 192.168.10.10:${r.request.sport}`);
      expect(vpnReply.steps.some((s) => s.verdict === 'drop' && /invalid/i.test(s.rule))).toBe(true);
      // requests in the order they cross the hosts
      const requests = r.rulePath.packets.filter((p) => p.direction === 'request').map((p) => p.host);
      expect(requests).toEqual(['office', 'vpn', NODE1, NODE2]);
      expect(r.rulePath.summary.some((l) => l.startsWith(`${NODE1} request 192.168.10.10:`))).toBe(true);
      expect(Object.keys(r.skipped)).toEqual(['office', 'vpn', NODE1, NODE2]);
      expect(Object.values(r.skipped)).toEqual([0, 0, 0, 0]);
      expect(await leftBehind()).toEqual([]);
    });

    test("a pod's own address is traced on the office, the vpn and the pod's node only, with no NAT on the way", async () => {
      const r = await lab.ruleTrace('pod/mysql', 3000);
      expect(r.request.outcome).toBe('answered');
      expect(r.request.peer).toBe(`192.168.10.10:${r.request.sport}`);
      expect(Object.keys(r.skipped)).toEqual(['office', 'vpn', NODE2]);
      expect(r.rulePath.packets.some((p) => p.outcome.some((o) => o.startsWith('DNAT')))).toBe(false);
      expect(packet(r.rulePath.packets, NODE2, 'request').packet).toMatch(/^192\.168\.10\.10:\d+ → 10\.244\.2\.2:3306/);
      expect(await leftBehind()).toEqual([]);
    });

    test('after masquerade-all: node1 marks, DNATs and masquerades the request, node2 sees it from node1, the reply goes back through node1', async () => {
      await netnsLab.setKubeProxy({ masqueradeAll: true });
      f.update({ configConf: configConf(mode, true) });
      const r = await lab.ruleTrace('mysql', 3000);
      expect(r.request.outcome).toBe('answered');
      expect(r.rulePath.kubeProxy.masqueradeAll).toBe(true);
      const node1 = packet(r.rulePath.packets, NODE1, 'request');
      expect(node1.steps.find((s) => s.verdict === `jump ${names.mark}`)?.meaning).toBe(
        'marked for SNAT (masqueradeAll true)',
      );
      expect(node1.outcome).toContain('MASQUERADE: SNAT to this node’s address');
      expect(packet(r.rulePath.packets, NODE2, 'request').packet).toMatch(/^10\.0\.1\.11:\d+ → 10\.244\.2\.2:3306/);
      expect(packet(r.rulePath.packets, NODE1, 'reply').packet).toMatch(/^10\.244\.2\.2:3306 → 10\.0\.1\.11:\d+/);
      expect(await leftBehind()).toEqual([]);
    });

    test('a request that cannot be sent leaves no trace table and no listener', async () => {
      // the office's stand-in gone: nsenter cannot enter its namespace
      const office = sleepers[0];
      office?.kill('SIGKILL');
      await new Promise((resolve) => office?.once('exit', resolve));
      await expect(lab.ruleTrace('mysql', 1000)).rejects.toThrow(/nsenter|No such file|failed/);
      expect(await leftBehind()).toEqual([]);
    });
  });
}

// `docker exec NODE CMD…` for the stand-in nodes: CMD in the stand-in's
// network namespace (how natscope reads a node's rules), and nothing else
function standInDocker(file: string, nodePids: Record<string, number>): void {
  const cases = Object.entries(nodePids)
    .map(([name, pid]) => `  ${name}) pid=${pid} ;;`)
    .join('\n');
  const script = [
    '#!/bin/bash',
    '[ "$1" = exec ] || { echo "stand-in docker: only exec is served" >&2; exit 2; }',
    'case "$2" in',
    cases,
    '  *) echo "Error response from daemon: No such container: $2" >&2; exit 1 ;;',
    'esac',
    'shift 2',
    'exec nsenter --net=/proc/$pid/ns/net -- "$@"',
    '',
  ].join('\n');
  writeFileSync(file, script, { mode: 0o755 });
}

// a network namespace's identity: the device and inode of its nsfs file
function nsId(path: string): string {
  const s = statSync(path);
  return `${s.dev}:${s.ino}`;
}
