// Changing kube-proxy on the kind cluster the way the write-up did on a real
// one: edit the kube-proxy ConfigMap, delete the kube-proxy pods, and wait
// until the DaemonSet's new pods are Ready and their full sync shows on the
// nodes (iptables-save, or nft list table ip kube-proxy in nftables mode, on
// node1 and node2), which is when the change is real.

import { EXIT, NatscopeError } from '../../errors.js';
import type { KubeProxyConfig, ProxyMode } from '../../events/types.js';
import { editKubeProxyConfig, readKubeProxyConfig, sameKubeProxy } from './kubeproxy-config.js';
import type { KubePod, Kubectl } from './kubectl.js';
import {
  describeFinding,
  describeWanted,
  findServiceMasquerade,
  nodeRules,
  rulesMatch,
  type MasqueradeFinding,
} from './rules.js';
import { waitFor } from './wait.js';

export interface KubeProxyChange {
  kubeProxy: KubeProxyConfig;
  // from the ConfigMap edit to the rules being on both nodes
  syncMs: number;
  restarted: boolean;
}

export async function currentKubeProxy(kubectl: Kubectl): Promise<KubeProxyConfig> {
  return readKubeProxyConfig(await kubectl.kubeProxyConfigText());
}

async function findings(nodes: string[], mode: ProxyMode): Promise<Map<string, MasqueradeFinding>> {
  const entries = await Promise.all(
    nodes.map(async (n) => [n, findServiceMasquerade((await nodeRules(n, mode)).text, mode)] as const),
  );
  return new Map(entries);
}

function allMatch(found: Map<string, MasqueradeFinding>, want: KubeProxyConfig): boolean {
  return [...found.values()].every((f) => rulesMatch(f, want));
}

function newPodsReady(pods: KubePod[], old: Set<string>, expected: number): boolean {
  const fresh = pods.filter((p) => !old.has(p.uid) && !p.terminating);
  return fresh.length >= expected && fresh.every((p) => p.ready) && !pods.some((p) => old.has(p.uid));
}

export interface ApplyOptions {
  // the nodes whose rules must show the change (node1 and node2's containers)
  checkNodes: string[];
  // how many kube-proxy pods the DaemonSet runs (one per node)
  nodeCount: number;
  timeoutMs: number;
  log: (line: string) => void;
}

// Brings kube-proxy to `want` and proves it on the nodes. Restarts the
// kube-proxy pods when the ConfigMap changed, or when the nodes' rules do
// not match it (a kube-proxy that has not re-read its configuration).
export async function applyKubeProxy(
  kubectl: Kubectl,
  want: KubeProxyConfig,
  options: ApplyOptions,
): Promise<KubeProxyChange> {
  const text = await kubectl.kubeProxyConfigText();
  const have = readKubeProxyConfig(text);
  if (have.mode !== want.mode) {
    // the mode is the cluster's (kind's kubeProxyMode when it was created): a ConfigMap edit would not carry it over
    throw new NatscopeError(`the kind cluster runs kube-proxy in ${have.mode} mode, not ${want.mode}`, {
      hint: `recreate it in ${want.mode} mode: sudo natscope lab down --lab kind && sudo natscope lab up --lab kind${want.mode === 'iptables' ? '' : ` --proxy-mode ${want.mode}`}`,
      exitCode: 2,
    });
  }
  const mode = want.mode;
  const started = performance.now();
  let restart = false;
  if (!sameKubeProxy(have, want)) {
    options.log(
      `kube-proxy ConfigMap: clusterCIDR ${have.clusterCIDR ?? '""'} → ${want.clusterCIDR ?? '""'}, ${mode}.masqueradeAll ${have.masqueradeAll} → ${want.masqueradeAll}`,
    );
    const edited = editKubeProxyConfig(text, want);
    if (!sameKubeProxy(readKubeProxyConfig(edited), want)) throw new Error('kube-proxy config edit did not take');
    await kubectl.setKubeProxyConfigText(edited);
    restart = true;
  } else if (!allMatch(await findings(options.checkNodes, mode), want)) {
    options.log("kube-proxy ConfigMap already says so, but the nodes' rules do not: restarting kube-proxy");
    restart = true;
  }
  if (restart) {
    const old = new Set((await kubectl.kubeProxyPods()).map((p) => p.uid));
    await kubectl.deleteKubeProxyPods();
    options.log(`deleted ${old.size} kube-proxy pods; waiting for the DaemonSet's new ones`);
    let last: KubePod[] = [];
    const ready = await waitFor(async () => {
      last = await kubectl.kubeProxyPods();
      return newPodsReady(last, old, options.nodeCount) ? true : null;
    }, options.timeoutMs);
    if (!ready) {
      const fresh = last.filter((p) => !old.has(p.uid) && p.ready).length;
      throw new NatscopeError(
        `kube-proxy pods did not become ready within ${Math.round(options.timeoutMs / 1000)} s (${fresh} of ${options.nodeCount} new pods ready)`,
        {
          hint: 'kubectl -n kube-system get pods -l k8s-app=kube-proxy, and their logs (kubectl -n kube-system logs -l k8s-app=kube-proxy); NATSCOPE_KIND_WAIT_S=300 waits longer',
          exitCode: EXIT.timeout,
        },
      );
    }
  }
  let seen = new Map<string, MasqueradeFinding>();
  const synced = await waitFor(async () => {
    seen = await findings(options.checkNodes, mode);
    return allMatch(seen, want) ? true : null;
  }, options.timeoutMs);
  if (!synced) {
    const [nodeName, finding] = [...seen.entries()].find(([, f]) => !rulesMatch(f, want)) ?? ['?', null];
    throw new NatscopeError(
      `kube-proxy on ${nodeName} did not write the expected rules within ${Math.round(options.timeoutMs / 1000)} s: wanted ${describeWanted(want)}, found ${finding ? describeFinding(finding) : 'nothing'}${finding?.rule ? ` (${finding.rule})` : ''}`,
      {
        hint: `check the ConfigMap (kubectl -n kube-system get configmap kube-proxy -o yaml: clusterCIDR, ${mode}.masqueradeAll, detectLocalMode) and the kube-proxy logs`,
        exitCode: EXIT.timeout,
      },
    );
  }
  return { kubeProxy: want, syncMs: Math.round(performance.now() - started), restarted: restart };
}
