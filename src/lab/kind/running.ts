// The kind lab while it runs: requests from the office container (traced
// rule by rule too), the nodes' rules and conntrack tables, kube-proxy
// changes, netns names. Each
// call reads who is where from the cluster and Docker (topology.ts).

import { existsSync } from 'node:fs';
import { NatscopeError } from '../../errors.js';
import type { LabStatus, RequestEvent } from '../../events/types.js';
import type { RuleTrace } from '../../ruletrace/rulePath.js';
import { netnsInode, type NetnsResolver } from '../../tracer/netns.js';
import { parseConntrack, type ConntrackEntry } from '../conntrack.js';
import type { KubeProxySync, Lab, LoadResult, PingResult, Target } from '../lab.js';
import { helperPath } from '../netns/build.js';
import { checkCidr } from '../clusterCidr.js';
import { loadCommand, loadResult } from '../load.js';
import { requestEvent } from '../request.js';
import { PODS, SERVICES } from '../netns/topology.js';
import { registerLabHosts } from './attribution.js';
import { writeKubeconfig } from './cluster.js';
import { inspectContainers } from './docker.js';
import { Kubectl } from './kubectl.js';
import { applyKubeProxy, currentKubeProxy } from './kubeproxy.js';
import { PART_OF_LABEL, kindNames, officePlan, type KindNames, type OfficePlan } from './names.js';
import { inNetnsOf } from './nsenter.js';
import { tracedRules } from '../../ruletrace/backend.js';
import { kindTracedRequest } from './ruleTrace.js';
import { nodeRules } from './rules.js';
import { kubeconfigPath, readKindState } from './state.js';
import { assembleTopology, kindLabStatus, labNodeName, node, type KindTopology } from './topology.js';
import { waitSeconds } from './wait.js';
import { kindDown } from './down.js';
import { DEFAULT_PREFIX } from '../prefix.js';

export async function discoverTopology(names: KindNames, plan: OfficePlan, kubectl: Kubectl): Promise<KindTopology> {
  const [kubeNodes, pods, services] = await Promise.all([
    kubectl.nodes(),
    kubectl.pods('default', PART_OF_LABEL),
    kubectl.services('default', PART_OF_LABEL),
  ]);
  const containers = await inspectContainers([...kubeNodes.map((n) => n.name), names.vpn, names.office]);
  return assembleTopology(names, plan, kubeNodes, containers, pods, services);
}

export class KindLab implements Lab {
  readonly backend = 'kind' as const;

  constructor(
    readonly names: KindNames,
    readonly plan: OfficePlan,
    readonly kubectl: Kubectl,
    private topology: KindTopology,
  ) {}

  async refresh(): Promise<KindTopology> {
    this.topology = await discoverTopology(this.names, this.plan, this.kubectl);
    return this.topology;
  }

  async status(): Promise<LabStatus> {
    const t = await this.refresh();
    const inodes: Record<string, number> = {};
    const pids: [string, number | undefined][] = [
      ['office', t.office?.pid],
      ['vpn', t.vpn?.pid],
      ...t.nodes.map((n) => [n.role, n.pid] as [string, number]),
    ];
    for (const [name, pid] of pids) {
      if (pid) inodes[name] = await netnsInode(`/proc/${pid}/ns/net`).catch(() => 0);
    }
    const up = Boolean(t.office && t.vpn) && t.pods.length === PODS.length && t.pods.every((p) => p.ready);
    return kindLabStatus(t, await currentKubeProxy(this.kubectl), inodes, up);
  }

  targets(): Target[] {
    const t = this.topology;
    const list: Target[] = [];
    for (const spec of SERVICES) {
      const pod = PODS.find((p) => p.name === spec.pod)!;
      const svc = t.services.find((s) => s.name === spec.name && s.namespace === spec.namespace);
      if (svc)
        list.push({
          name: spec.name,
          via: 'service',
          ip: svc.clusterIP,
          port: spec.port,
          proto: pod.proto,
          pod: pod.name,
        });
    }
    for (const p of t.pods)
      list.push({ name: `pod/${p.name}`, via: 'pod', ip: p.ip, port: p.port, proto: p.proto, pod: p.name });
    return list;
  }

  resolveTarget(name: string): Target {
    const wanted = name.replace(/^default\//, '').replace(/^svc\//, '');
    const found = this.targets().find((t) => t.name === wanted);
    if (!found) {
      throw new NatscopeError(`unknown service or pod "${name}"`, {
        hint: 'valid targets: nginx, mysql, pod/nginx, pod/mysql',
        exitCode: 2,
      });
    }
    return found;
  }

  private officePid(): number {
    if (!this.topology.office)
      throw new NatscopeError(`the office container ${this.names.office} is not running`, {
        hint: 'sudo natscope lab up --lab kind',
      });
    return this.topology.office.pid;
  }

  private vpnPid(): number {
    if (!this.topology.vpn)
      throw new NatscopeError(`the vpn container ${this.names.vpn} is not running`, {
        hint: 'sudo natscope lab up --lab kind',
      });
    return this.topology.vpn.pid;
  }

  async request(target: string, timeoutMs: number): Promise<RequestEvent> {
    const t = this.resolveTarget(target);
    const pid = this.officePid();
    const r = await inNetnsOf(pid, [
      helperPath(),
      'request',
      '--proto',
      t.proto,
      '--timeout-ms',
      String(timeoutMs),
      t.ip,
      String(t.port),
    ]);
    return requestEvent(r.stdout, t, await netnsInode(`/proc/${pid}/ns/net`).catch(() => 0), (n) =>
      labNodeName(this.topology, n),
    );
  }

  async ping(target: string): Promise<PingResult> {
    const t = this.resolveTarget(target);
    const r = await inNetnsOf(this.officePid(), ['ping', '-c', '1', '-W', '1', t.ip], { reject: false });
    const line = r.stdout.split('\n').find((l) => /bytes from|packet loss|Unreachable/.test(l)) ?? '';
    return { target: t.name, ip: t.ip, answered: r.exitCode === 0, detail: line.trim() };
  }

  async setKubeProxy(change: { masqueradeAll?: boolean; clusterCIDR?: string | null }): Promise<KubeProxySync> {
    const have = await currentKubeProxy(this.kubectl);
    const want = {
      ...have,
      ...(change.masqueradeAll !== undefined ? { masqueradeAll: change.masqueradeAll } : {}),
      ...(change.clusterCIDR !== undefined ? { clusterCIDR: checkCidr(change.clusterCIDR) } : {}),
    };
    const t = this.topology;
    const result = await applyKubeProxy(this.kubectl, want, {
      checkNodes: [node(t, 'node1').container, node(t, 'node2').container],
      nodeCount: t.nodes.length,
      timeoutMs: waitSeconds() * 1000,
      log: () => undefined,
    });
    return { kubeProxy: result.kubeProxy, syncMs: result.syncMs };
  }

  async rules(which: string): Promise<string> {
    if (which === 'vpn') return (await inNetnsOf(this.vpnPid(), ['iptables-save', '-t', 'filter'])).stdout;
    if (which === 'node1' || which === 'node2' || which === 'control-plane') {
      // iptables-save's nat table, or kube-proxy's own table in nftables mode
      const { mode } = await currentKubeProxy(this.kubectl);
      return (await nodeRules(node(this.topology, which).container, mode)).text;
    }
    throw new NatscopeError(`unknown node "${which}"`, {
      hint: 'nodes: node1, node2, control-plane (and vpn)',
      exitCode: 2,
    });
  }

  async routes(host: string): Promise<string> {
    if (!['office', 'vpn', 'node1', 'node2', 'control-plane'].includes(host)) {
      throw new NatscopeError(`unknown host "${host}"`, {
        hint: 'hosts: office, vpn, node1, node2, control-plane',
        exitCode: 2,
      });
    }
    return (await inNetnsOf(this.pidOf(host), ['ip', 'route'])).stdout;
  }

  private pidOf(which: string): number {
    if (which === 'vpn') return this.vpnPid();
    if (which === 'office') return this.officePid();
    if (which === 'node1' || which === 'node2' || which === 'control-plane') return node(this.topology, which).pid;
    throw new NatscopeError(`unknown node "${which}"`, {
      hint: 'nodes: node1, node2, control-plane (and vpn, office)',
      exitCode: 2,
    });
  }

  async conntrack(which: string): Promise<ConntrackEntry[]> {
    const r = await inNetnsOf(this.pidOf(which), ['conntrack', '-L'], { reject: false });
    return parseConntrack(r.stdout);
  }

  async vpnDrops(): Promise<number> {
    const r = await inNetnsOf(this.vpnPid(), ['iptables-save', '-c', '-t', 'filter']);
    return countInvalidDrops(r.stdout);
  }

  // the rules the containers' kernels applied to one request (ruleTrace.ts)
  async ruleTrace(target: string, timeoutMs: number, onRequest?: (request: RequestEvent) => void): Promise<RuleTrace> {
    const t = this.resolveTarget(target);
    const kubeProxy = await currentKubeProxy(this.kubectl);
    // the node image chose its iptables at boot: the rules' backend says which rule tracing reads them
    const rules = await nodeRules(node(this.topology, 'node1').container, kubeProxy.mode);
    // the raw records stay here: the path is what the caller reads
    const { hosts: _records, ...trace } = await kindTracedRequest(
      this.topology,
      t,
      kubeProxy,
      tracedRules(rules.backend, kubeProxy.mode),
      timeoutMs,
      onRequest,
    );
    return trace;
  }

  async load(target: string, seconds: number, workers: number): Promise<LoadResult> {
    const t = this.resolveTarget(target);
    const r = await inNetnsOf(this.officePid(), loadCommand(t, seconds, workers, this.plan.loadSources));
    return loadResult(t, r.stdout);
  }

  loadSources(): string[] {
    return this.plan.loadSources;
  }

  async registerHosts(resolver: NetnsResolver): Promise<void> {
    await registerLabHosts(this.topology, resolver);
  }

  async down(): Promise<void> {
    await kindDown({ prefix: this.names.prefix });
  }
}

// The packet counter of the vpn's "cloud fabric" rule (iptables-save -c).
export function countInvalidDrops(saveText: string): number {
  const line = saveText.split('\n').find((l) => l.includes('--ctstate INVALID') && l.includes('-j DROP'));
  const m = line ? /^\[(\d+):\d+\]/.exec(line) : null;
  return m ? Number(m[1]) : 0;
}

export async function openKindLab(options: { prefix?: string } = {}): Promise<KindLab> {
  const names = kindNames(options.prefix ?? DEFAULT_PREFIX);
  const state = await readKindState(names.prefix);
  if (!state)
    throw new NatscopeError(`no kind lab is up (prefix ${names.prefix})`, { hint: 'sudo natscope lab up --lab kind' });
  if (!state.complete) {
    throw new NatscopeError('the kind lab is not ready (its last `lab up` did not finish)', {
      hint: 'sudo natscope lab up --lab kind (it picks up where it stopped)',
    });
  }
  const kubeconfig = kubeconfigPath(names.prefix);
  if (!existsSync(kubeconfig)) await writeKubeconfig(names.cluster, kubeconfig);
  const kubectl = new Kubectl(kubeconfig);
  const plan = officePlan(state.officeCIDR);
  return new KindLab(names, plan, kubectl, await discoverTopology(names, plan, kubectl));
}
