// The netns lab: the incident on one Linux host (see topology.ts).

import { existsSync } from 'node:fs';
import { NatscopeError } from '../../errors.js';
import type { IptablesBackend, KubeProxyConfig, LabStatus, ProxyMode, RequestEvent } from '../../events/types.js';
import type { RuleTrace } from '../../ruletrace/rulePath.js';
import { tracedRequest } from '../../ruletrace/tracedRequest.js';
import { iptablesBackend } from '../../tracer/capabilities.js';
import { netnsInode, type NetnsResolver } from '../../tracer/netns.js';
import { onCleanup } from '../../util/cleanup.js';
import { requireRoot } from '../../util/root.js';
import { checkCidr } from '../clusterCidr.js';
import { DEFAULT_PREFIX, checkPrefix } from '../prefix.js';
import { parseConntrack, type ConntrackEntry } from '../conntrack.js';
import type { KubeProxySync, Lab, LoadResult, PingResult, Target } from '../lab.js';
import { loadCommand, loadResult } from '../load.js';
import { requestEvent } from '../request.js';
import { buildLab, helperPath } from './build.js';
import { inNetns, listNetns } from './exec.js';
import { rulesCommand, saveBinary, syncNode } from './kubeproxy.js';
import { withLabLock } from './lock.js';
import { markedNamespaces } from './mark.js';
import { readState, writeState, type LabState } from './state.js';
import { teardownLab, type Teardown } from './teardown.js';
import { NAMESPACES, OFFICE_LOAD_SOURCES, labNamespaces, labStatus, netnsName, targets } from './topology.js';

export interface NetnsUpOptions {
  prefix?: string;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  // kube-proxy's mode on the nodes (default iptables)
  proxyMode?: ProxyMode;
  iptables?: IptablesBackend;
  log?: (line: string) => void;
}

export class NetnsLab implements Lab {
  readonly backend = 'netns' as const;

  private constructor(private state: LabState) {}

  get prefix(): string {
    return this.state.prefix;
  }

  static async up(options: NetnsUpOptions): Promise<NetnsLab> {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    checkPrefix(prefix);
    const clusterCIDR = checkCidr(options.clusterCIDR);
    requireRoot('lab up');
    if (!existsSync(helperPath()))
      throw new NatscopeError(`the lab's helper ${helperPath()} is not built`, { hint: 'npm run build' });
    const log = options.log ?? (() => undefined);
    const backend = options.iptables ?? ((await iptablesBackend()) === 'legacy' ? 'legacy' : 'nft');
    if ((await iptablesBackend()) === 'unknown')
      throw new NatscopeError('iptables not found', { hint: 'apt-get install iptables' });

    return withLabLock(prefix, 'up', async () => {
      const namespaces = labNamespaces(prefix);
      const present = (await listNetns()).filter((n) => namespaces.includes(n));
      // what a lab with this prefix left (a state, or namespaces natscope marked) goes first
      if ((await readState(prefix)) || (await markedNamespaces(prefix, present)).size > 0) {
        log('cleaning up the previous lab first');
        warnUnmarked(await teardownLab(prefix));
      }
      const clash = (await listNetns()).filter((n) => namespaces.includes(n));
      if (clash.length > 0) {
        throw new NatscopeError(
          `network namespaces ${clash.join(', ')} exist and were not made by a natscope lab with prefix "${prefix}"`,
          {
            hint: 'choose another prefix (--prefix) or remove them yourself',
            exitCode: 2,
          },
        );
      }
      const kubeProxy: KubeProxyConfig = {
        mode: options.proxyMode ?? 'iptables',
        masqueradeAll: options.masqueradeAll,
        clusterCIDR,
      };
      const state: LabState = {
        version: 1,
        backend: 'netns',
        prefix,
        namespaces,
        complete: false,
        kubeProxy,
        iptables: backend,
        createdAt: new Date().toISOString(),
      };
      // written first: whatever happens next, `lab down` knows what the lab was
      await writeState(state);
      const undo = onCleanup('take down the half-built lab', async () => {
        await teardownLab(prefix);
      });
      try {
        await buildLab(prefix, kubeProxy, backend, log);
      } catch (error) {
        await undo.run();
        throw error;
      }
      undo.cancel();
      state.complete = true;
      await writeState(state);
      return new NetnsLab(state);
    });
  }

  static async open(prefix = DEFAULT_PREFIX): Promise<NetnsLab> {
    checkPrefix(prefix);
    const state = await readState(prefix);
    if (!state) throw new NatscopeError(`no netns lab is up (prefix "${prefix}")`, { hint: 'sudo natscope lab up' });
    if (!state.complete)
      throw new NatscopeError('the lab is half-built (its `up` was interrupted)', {
        hint: 'sudo natscope lab down && sudo natscope lab up',
      });
    return new NetnsLab(state);
  }

  static async down(prefix = DEFAULT_PREFIX): Promise<string[]> {
    checkPrefix(prefix);
    requireRoot('lab down');
    const result = await withLabLock(prefix, 'down', () => teardownLab(prefix));
    warnUnmarked(result);
    return result.removed;
  }

  private ns(suffix: string): string {
    return netnsName(this.state.prefix, suffix);
  }

  async status(): Promise<LabStatus> {
    const inodes: Record<string, number> = {};
    for (const suffix of ['office', 'vpn', 'node1', 'node2']) {
      inodes[suffix] = await netnsInode(`/run/netns/${this.ns(suffix)}`).catch(() => -1);
    }
    const up = Object.values(inodes).every((i) => i > 0);
    return labStatus(this.state.prefix, up, this.state.kubeProxy, up ? inodes : {});
  }

  get kubeProxy(): KubeProxyConfig {
    return { ...this.state.kubeProxy };
  }

  get iptables(): IptablesBackend {
    return this.state.iptables;
  }

  resolveTarget(name: string): Target {
    const all = targets();
    const wanted = name.replace(/^default\//, '').replace(/^svc\//, '');
    const found = all.find((t) => t.name === wanted);
    if (!found) {
      throw new NatscopeError(`unknown service or pod "${name}"`, {
        hint: `valid targets: ${all.map((t) => t.name).join(', ')}`,
        exitCode: 2,
      });
    }
    return found;
  }

  async request(target: string, timeoutMs: number): Promise<RequestEvent> {
    const t = this.resolveTarget(target);
    const office = this.ns('office');
    const result = await inNetns(office, [
      helperPath(),
      'request',
      '--proto',
      t.proto,
      '--timeout-ms',
      String(timeoutMs),
      t.ip,
      String(t.port),
    ]);
    return requestEvent(String(result.stdout), t, await netnsInode(`/run/netns/${office}`).catch(() => 0));
  }

  async ping(target: string): Promise<PingResult> {
    const t = this.resolveTarget(target);
    const result = await inNetns(this.ns('office'), ['ping', '-c', '1', '-W', '1', t.ip], { reject: false });
    const answered = result.exitCode === 0;
    const line =
      String(result.stdout)
        .split('\n')
        .find((l) => /bytes from|packet loss|Unreachable/.test(l)) ?? '';
    return { target: t.name, ip: t.ip, answered, detail: line.trim() };
  }

  async setKubeProxy(change: { masqueradeAll?: boolean; clusterCIDR?: string | null }): Promise<KubeProxySync> {
    requireRoot('lab set');
    const clusterCIDR = change.clusterCIDR !== undefined ? checkCidr(change.clusterCIDR) : undefined;
    return withLabLock(this.prefix, 'set', async () => {
      // what another `lab set` wrote meanwhile is the starting point
      const current = await readState(this.prefix);
      if (!current?.complete)
        throw new NatscopeError(`the netns lab with prefix ${this.prefix} is no longer up`, {
          hint: 'sudo natscope lab up',
        });
      this.state = current;
      const next: KubeProxyConfig = {
        ...this.state.kubeProxy,
        ...(change.masqueradeAll !== undefined ? { masqueradeAll: change.masqueradeAll } : {}),
        ...(clusterCIDR !== undefined ? { clusterCIDR } : {}),
      };
      const started = performance.now();
      // what a restarted kube-proxy does on each node: one full sync
      await Promise.all(
        (['node1', 'node2'] as const).map((n) => syncNode(this.ns(n), n, next, this.state.iptables, false)),
      );
      this.state = { ...this.state, kubeProxy: next };
      await writeState(this.state);
      return { kubeProxy: next, syncMs: Math.round(performance.now() - started) };
    });
  }

  private node(node: string): string {
    if (node !== 'node1' && node !== 'node2' && node !== 'vpn') {
      throw new NatscopeError(`unknown node "${node}"`, { hint: 'nodes: node1, node2 (and vpn)', exitCode: 2 });
    }
    return this.ns(node);
  }

  // A node's kube-proxy rules in its mode (iptables-save -t nat, or nft's
  // listing of table ip kube-proxy); the vpn's filter table, where its
  // cloud-fabric rule is.
  async rules(node: string): Promise<string> {
    const ns = this.node(node);
    const argv =
      node === 'vpn'
        ? [saveBinary(this.state.iptables), '-t', 'filter']
        : rulesCommand(this.state.kubeProxy, this.state.iptables);
    return String((await inNetns(ns, argv)).stdout);
  }

  async routes(host: string): Promise<string> {
    if (!['office', 'vpn', 'node1', 'node2'].includes(host)) {
      throw new NatscopeError(`unknown host "${host}"`, { hint: 'hosts: office, vpn, node1, node2', exitCode: 2 });
    }
    const result = await inNetns(this.ns(host), ['ip', 'route']);
    return String(result.stdout);
  }

  async conntrack(node: string): Promise<ConntrackEntry[]> {
    const result = await inNetns(this.node(node), ['conntrack', '-L'], { reject: false });
    return parseConntrack(String(result.stdout));
  }

  async vpnDrops(): Promise<number> {
    const result = await inNetns(this.ns('vpn'), [saveBinary(this.state.iptables), '-c', '-t', 'filter']);
    const line = String(result.stdout)
      .split('\n')
      .find((l) => l.includes('--ctstate INVALID') && l.includes('-j DROP'));
    const m = line ? /^\[(\d+):\d+\]/.exec(line) : null;
    return m ? Number(m[1]) : 0;
  }

  async ruleTrace(target: string, timeoutMs: number, onRequest?: (request: RequestEvent) => void): Promise<RuleTrace> {
    // the raw records stay here: the path is what the caller reads
    const { hosts: _records, ...trace } = await tracedRequest(this, target, timeoutMs, onRequest);
    return trace;
  }

  async load(target: string, seconds: number, workers: number): Promise<LoadResult> {
    const t = this.resolveTarget(target);
    const result = await inNetns(this.ns('office'), loadCommand(t, seconds, workers, OFFICE_LOAD_SOURCES));
    return loadResult(t, String(result.stdout));
  }

  loadSources(): string[] {
    return OFFICE_LOAD_SOURCES;
  }

  async registerHosts(resolver: NetnsResolver): Promise<void> {
    await Promise.all(
      Object.entries(NAMESPACES).map(([suffix, host]) =>
        resolver.registerPath(`/run/netns/${this.ns(suffix)}`, host).catch(() => 0),
      ),
    );
  }

  async down(): Promise<void> {
    warnUnmarked(await withLabLock(this.prefix, 'down', () => teardownLab(this.prefix)));
  }
}

// A namespace the state lists but natscope's mark is missing from was not made by natscope: said, and left.
function warnUnmarked(result: Teardown): void {
  if (result.unmarked.length === 0) return;
  process.stderr.write(
    `natscope: left ${result.unmarked.join(', ')} in place: the lab's state lists it, but it does not carry natscope's mark, so natscope did not make it\n  fix: if it is not yours either: sudo ip netns del ${result.unmarked[0]}\n`,
  );
}
