// trace --rules on the kind lab: one request from the office container,
// traced in the network namespaces of the containers it crosses (by PID:
// /proc/PID/ns/net), with this machine's nft, as in the netns lab. A kind
// node's kube-proxy rules live in its container's namespace (iptables-nft in
// kindest/node: tables ip nat and ip filter; or kube-proxy's table ip
// kube-proxy in nftables mode), so nftrace reports them there. Who is
// where comes from the lab's topology: the vpn routes the Service CIDR to
// node1 (network.ts), which NATs the request and, masquerading, sends it on
// from its own address to the pod's node.

import { NatscopeError } from '../../errors.js';
import type { KubeProxyConfig, RequestEvent } from '../../events/types.js';
import type { TracedHost } from '../../ruletrace/listener.js';
import type { TracedRules } from '../../ruletrace/monitor.js';
import { pidNetnsPath } from '../../ruletrace/netnsPath.js';
import type { TracedFlow } from '../../ruletrace/traceTable.js';
import { pickTracedPort, traceRequest, type TracedRequest, tracedRequestArgv } from '../../ruletrace/tracedRequest.js';
import { netnsInode } from '../../tracer/netns.js';
import type { Target } from '../lab.js';
import { requestEvent } from '../request.js';
import { inNetnsOf } from './nsenter.js';
import { labNodeName, node, type KindNode, type KindTopology } from './topology.js';

// A node as the rule path names it: its own (container and Kubernetes) name, and its part in the lab.
export function tracedNodeName(n: KindNode): string {
  return `${n.container} (${n.role})`;
}

function running<T>(what: T | null, name: string): T {
  if (!what)
    throw new NatscopeError(`the ${name} container is not running`, { hint: 'sudo natscope lab up --lab kind' });
  return what;
}

// The node the target's pod runs on.
function podNode(t: KindTopology, target: Target): KindNode {
  const pod = t.pods.find((p) => p.name === target.pod);
  const n = pod ? t.nodes.find((x) => x.container === pod.container) : undefined;
  if (!pod || !n)
    throw new NatscopeError(
      pod
        ? `the ${pod.name} pod runs on ${pod.container}, not on a node of the lab`
        : `the ${target.pod} pod is not running`,
      { hint: 'sudo natscope lab up --lab kind (it puts the pods back on node1 and node2)' },
    );
  return n;
}

// The hosts a request to the target crosses, in order: the office, the vpn,
// for a Service node1 (where the vpn routes the Service CIDR), then the
// pod's node (for a pod's own address the vpn routes straight there).
export function kindTracedHosts(t: KindTopology, target: Target): TracedHost[] {
  const office = running(t.office, t.names.office);
  const vpn = running(t.vpn, t.names.vpn);
  const nodes = target.via === 'service' ? [node(t, 'node1'), podNode(t, target)] : [podNode(t, target)];
  const unique = nodes.filter((n, i) => nodes.findIndex((x) => x.container === n.container) === i);
  return [
    { host: 'office', netns: pidNetnsPath(office.pid) },
    { host: 'vpn', netns: pidNetnsPath(vpn.pid) },
    ...unique.map((n) => ({ host: tracedNodeName(n), netns: pidNetnsPath(n.pid) })),
  ];
}

// The traced flow: the office client's address and port; for a Service,
// the leg node1 sends on when it masquerades (from node1's address).
export function kindTracedFlow(t: KindTopology, target: Target, clientPort: number): TracedFlow {
  const office = running(t.office, t.names.office);
  const pod = t.pods.find((p) => p.name === target.pod);
  return {
    client: office.ip,
    clientPort,
    masqueradedLeg:
      target.via === 'service' && pod ? { node: node(t, 'node1').ip, endpoint: pod.ip, endpointPort: pod.port } : null,
  };
}

export async function kindTracedRequest(
  t: KindTopology,
  target: Target,
  kubeProxy: KubeProxyConfig,
  rules: TracedRules,
  timeoutMs: number,
  onRequest?: (request: RequestEvent) => void,
): Promise<TracedRequest> {
  const clientPort = pickTracedPort();
  const hosts = kindTracedHosts(t, target);
  const flow = kindTracedFlow(t, target, clientPort);
  const officePid = running(t.office, t.names.office).pid;
  const send = async (): Promise<RequestEvent> => {
    // the request program is this machine's, run in the office's namespace
    const r = await inNetnsOf(officePid, tracedRequestArgv(target, clientPort, timeoutMs));
    return requestEvent(r.stdout, target, await netnsInode(pidNetnsPath(officePid)).catch(() => 0), (n) =>
      labNodeName(t, n),
    );
  };
  // the kind lab's lock is kept apart from a netns lab's of the same prefix
  return traceRequest({ lab: `kind-${t.names.prefix}`, timeoutMs, hosts, flow, kubeProxy, rules, send, onRequest });
}
