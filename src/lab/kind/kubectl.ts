// kubectl against the lab's cluster, through natscope's own kubeconfig (so a
// user's ~/.kube/config is neither needed nor changed), and the API fields
// the lab reads: Node .spec.podCIDR and InternalIP, Pod .status.podIP and
// .spec.nodeName, Service .spec.clusterIP, the kube-proxy ConfigMap. The
// objects are read through the one schema natscope has of each
// (src/cluster/kubectl.ts); the lab then keeps only addresses its strict
// parser accepts, since they go into ip and iptables commands.

import { z } from 'zod';
import { NodeSchema, PodSchema, parseList, ServiceSchema } from '../../cluster/kubectl.js';
import { parseCidr, parseIPv4 } from '../../events/tuple.js';
import { parseJsonAs } from '../../util/json.js';
import { run, type RunResult } from './tools.js';

// the one field natscope reads of a ConfigMap
const ConfigMapSchema = z.object({ data: z.record(z.string(), z.string()).optional() });

export interface KubeNode {
  name: string;
  internalIP: string;
  podCIDR: string;
  labels: Record<string, string>;
  ready: boolean;
}

export interface KubePod {
  name: string;
  namespace: string;
  uid: string;
  node: string;
  ip: string;
  ready: boolean;
  terminating: boolean;
  labels: Record<string, string>;
}

export interface KubeService {
  namespace: string;
  name: string;
  clusterIP: string;
  ports: { name: string; port: number; protocol: string }[];
}

// Addresses from the cluster go into ip and iptables commands: one the strict
// parser refuses counts as missing (as when the cluster has not set it yet).
const address = (text: string | undefined) => (text !== undefined && parseIPv4(text) !== null ? text : '');
const network = (text: string | undefined) => (text !== undefined && parseCidr(text) !== null ? text : '');

const ready = (conditions: { type: string; status: string }[] | undefined) =>
  (conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export function parseNodes(json: string): KubeNode[] {
  return parseList('nodes', NodeSchema, json).map((n) => ({
    name: n.metadata.name,
    internalIP: address(n.status.addresses.find((a) => a.type === 'InternalIP')?.address),
    podCIDR: network(n.spec.podCIDR),
    labels: n.metadata.labels ?? {},
    ready: ready(n.status.conditions),
  }));
}

export function parsePods(json: string): KubePod[] {
  return parseList('pods', PodSchema, json).map((p) => ({
    name: p.metadata.name,
    namespace: p.metadata.namespace ?? 'default',
    uid: p.metadata.uid ?? '',
    node: p.spec.nodeName ?? '',
    ip: address(p.status.podIP),
    ready: ready(p.status.conditions),
    terminating: Boolean(p.metadata.deletionTimestamp),
    labels: p.metadata.labels ?? {},
  }));
}

export function parseServices(json: string): KubeService[] {
  return parseList('services', ServiceSchema, json).map((s) => ({
    namespace: s.metadata.namespace ?? 'default',
    name: s.metadata.name,
    clusterIP: address(s.spec.clusterIP),
    ports: s.spec.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol })),
  }));
}

export class Kubectl {
  constructor(readonly kubeconfig: string) {}

  run(args: string[], options: { input?: string; reject?: boolean; timeoutMs?: number } = {}): Promise<RunResult> {
    return run('kubectl', ['--kubeconfig', this.kubeconfig, ...args], options);
  }

  async nodes(): Promise<KubeNode[]> {
    return parseNodes((await this.run(['get', 'nodes', '-o', 'json'])).stdout);
  }

  async pods(namespace: string, selector: string): Promise<KubePod[]> {
    return parsePods((await this.run(['-n', namespace, 'get', 'pods', '-l', selector, '-o', 'json'])).stdout);
  }

  async services(namespace: string, selector: string): Promise<KubeService[]> {
    return parseServices((await this.run(['-n', namespace, 'get', 'services', '-l', selector, '-o', 'json'])).stdout);
  }

  async kubeProxyConfigText(): Promise<string> {
    const cm = parseJsonAs(
      ConfigMapSchema,
      (await this.run(['-n', 'kube-system', 'get', 'configmap', 'kube-proxy', '-o', 'json'])).stdout,
      "kubectl's kube-proxy ConfigMap",
      'check the cluster: kubectl -n kube-system get configmap kube-proxy -o yaml',
    );
    return cm.data?.['config.conf'] ?? '';
  }

  // A merge patch of one key: the ConfigMap's other keys (kubeconfig.conf) stay.
  async setKubeProxyConfigText(text: string): Promise<void> {
    await this.run([
      '-n',
      'kube-system',
      'patch',
      'configmap',
      'kube-proxy',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ data: { 'config.conf': text } }),
    ]);
  }

  async kubeProxyPods(): Promise<KubePod[]> {
    return this.pods('kube-system', 'k8s-app=kube-proxy');
  }

  // What the write-up did: delete the pods; the DaemonSet recreates them and
  // each new kube-proxy reads the ConfigMap and does a full sync.
  async deleteKubeProxyPods(): Promise<void> {
    await this.run(['-n', 'kube-system', 'delete', 'pods', '-l', 'k8s-app=kube-proxy', '--wait=false']);
  }

  async apply(manifest: string): Promise<void> {
    await this.run(['apply', '-f', '-'], { input: manifest });
  }

  async waitReady(what: string[], timeoutS: number, namespace?: string): Promise<RunResult> {
    const ns = namespace ? ['-n', namespace] : [];
    return this.run([...ns, 'wait', '--for=condition=Ready', ...what, `--timeout=${timeoutS}s`], { reject: false });
  }
}
