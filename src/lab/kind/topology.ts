// Who is who in a running kind lab, read from the cluster and Docker each
// time rather than assumed: which worker plays node1 (its natscope.io/lab-node
// label), the IP and pod CIDR kube-controller-manager gave each node (the
// order workers join in is not fixed), where the pods landed, the
// containers' PIDs for nsenter and netns inodes.

import { NatscopeError } from '../../errors.js';
import type { KubeProxyConfig, LabStatus } from '../../events/types.js';
import { PODS, SERVICES } from '../netns/topology.js';
import type { ContainerInfo } from './docker.js';
import type { KubeNode, KubePod, KubeService } from './kubectl.js';
import { NODE_ROLE_LABEL, SERVICE_SUBNET, type KindNames, type OfficePlan } from './names.js';

export type NodeRole = 'node1' | 'node2' | 'control-plane';

export interface KindNode {
  role: NodeRole;
  // the node container's name, which is also the Kubernetes node name
  container: string;
  ip: string;
  podCIDR: string;
  pid: number;
}

export interface KindPod {
  name: string;
  namespace: string;
  uid: string;
  ip: string;
  port: number;
  proto: 'http' | 'mysql';
  container: string;
  role: NodeRole | null;
  ready: boolean;
}

export interface KindTopology {
  names: KindNames;
  plan: OfficePlan;
  kindNetwork: string;
  nodes: KindNode[];
  vpn: { pid: number; ip: string; officeIp: string } | null;
  office: { pid: number; ip: string } | null;
  pods: KindPod[];
  services: KubeService[];
}

export function roleOf(node: KubeNode, names: KindNames): NodeRole | null {
  const label = node.labels[NODE_ROLE_LABEL];
  if (label === 'node1' || label === 'node2') return label;
  if (node.name === names.controlPlane) return 'control-plane';
  return null;
}

export function assembleTopology(
  names: KindNames,
  plan: OfficePlan,
  kubeNodes: KubeNode[],
  containers: ContainerInfo[],
  pods: KubePod[],
  services: KubeService[],
): KindTopology {
  const byName = new Map(containers.map((c) => [c.name, c]));
  const nodes: KindNode[] = [];
  for (const n of kubeNodes) {
    const role = roleOf(n, names);
    if (!role) continue;
    nodes.push({ role, container: n.name, ip: n.internalIP, podCIDR: n.podCIDR, pid: byName.get(n.name)?.pid ?? 0 });
  }
  for (const role of ['node1', 'node2'] as const) {
    if (!nodes.some((n) => n.role === role)) {
      throw new NatscopeError(
        `no worker of cluster "${names.cluster}" is labelled ${NODE_ROLE_LABEL}=${role}: it was not made from natscope's kind config`,
        {
          hint: 'sudo natscope lab down --lab kind && sudo natscope lab up --lab kind',
        },
      );
    }
  }
  const worker = byName.get(nodes.find((n) => n.role === 'node1')!.container);
  // kind attaches its nodes to one network ("kind", or KIND_EXPERIMENTAL_DOCKER_NETWORK)
  const kindNetwork = Object.keys(worker?.networks ?? {})[0] ?? 'kind';
  const vpnC = byName.get(names.vpn);
  const officeC = byName.get(names.office);
  const roleByContainer = new Map(nodes.map((n) => [n.container, n.role]));
  return {
    names,
    plan,
    kindNetwork,
    nodes,
    vpn: vpnC?.running
      ? {
          pid: vpnC.pid,
          ip: vpnC.networks[kindNetwork] ?? '',
          officeIp: vpnC.networks[names.officeNetwork] ?? plan.vpn,
        }
      : null,
    office: officeC?.running ? { pid: officeC.pid, ip: officeC.networks[names.officeNetwork] ?? plan.client } : null,
    pods: PODS.flatMap((spec) => {
      const p = pods.find((x) => x.name === spec.name && x.namespace === spec.namespace && !x.terminating);
      if (!p) return [];
      return [
        {
          name: p.name,
          namespace: p.namespace,
          uid: p.uid,
          ip: p.ip,
          port: spec.port,
          proto: spec.proto,
          container: p.node,
          role: roleByContainer.get(p.node) ?? null,
          ready: p.ready,
        },
      ];
    }),
    services: services.filter((s) => SERVICES.some((spec) => spec.name === s.name && spec.namespace === s.namespace)),
  };
}

export function node(topology: KindTopology, role: NodeRole): KindNode {
  const n = topology.nodes.find((x) => x.role === role);
  if (!n) throw new NatscopeError(`the lab has no ${role}`, { hint: 'sudo natscope lab up --lab kind' });
  return n;
}

// A reply names the pod's Kubernetes node (the container); events use lab names.
export function labNodeName(topology: KindTopology, container: string | null): string | null {
  if (container === null) return null;
  return topology.nodes.find((n) => n.container === container)?.role ?? container;
}

export function kindLabStatus(
  topology: KindTopology,
  kubeProxy: KubeProxyConfig,
  inodes: Record<string, number>,
  up: boolean,
): LabStatus {
  const host = (name: string, netns: string, ip: string) => ({
    netns,
    ip,
    ...(inodes[name] ? { inode: inodes[name] } : {}),
  });
  const hosts: LabStatus['hosts'] = {};
  hosts.office = host('office', `container ${topology.names.office}`, topology.office?.ip ?? topology.plan.client);
  // the VPN endpoint's address in the node network, as in the netns lab (10.0.1.2)
  hosts.vpn = host('vpn', `container ${topology.names.vpn}`, topology.vpn?.ip ?? '');
  for (const role of ['node1', 'node2'] as const) {
    const n = topology.nodes.find((x) => x.role === role);
    if (n) hosts[role] = host(role, `container ${n.container}`, n.ip);
  }
  return {
    backend: 'kind',
    prefix: topology.names.prefix,
    up,
    hosts,
    pods: topology.pods.map((p) => ({
      name: p.name,
      namespace: p.namespace,
      node: p.role ?? p.container,
      ip: p.ip,
      port: p.port,
      netns: `pod ${p.namespace}/${p.name} in ${p.container}`,
    })),
    services: SERVICES.flatMap((spec) => {
      const s = topology.services.find((x) => x.name === spec.name && x.namespace === spec.namespace);
      if (!s) return [];
      const pod = topology.pods.find((p) => p.name === spec.pod);
      const port = s.ports.find((p) => p.name === spec.portName) ?? s.ports[0];
      return [
        {
          namespace: s.namespace,
          name: s.name,
          portName: port?.name ?? spec.portName,
          protocol: 'TCP' as const,
          port: port?.port ?? spec.port,
          clusterIP: s.clusterIP,
          endpoints: pod ? [{ ip: pod.ip, port: pod.port, node: pod.role ?? pod.container }] : [],
        },
      ];
    }),
    kubeProxy,
    serviceCIDR: SERVICE_SUBNET,
    officeCIDR: topology.plan.cidr,
  };
}
