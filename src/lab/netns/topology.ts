// The incident's topology (docs/architecture.md has the drawing): an office
// client behind a VPN, the VPN endpoint in the cloud VPC, two nodes, one pod
// on each. The VPN routes the whole Service CIDR to node1 only, as a cloud
// route table can point a prefix at one instance only.

import type { KubeProxyConfig, LabStatus } from '../../events/types.js';
import type { ServicePort } from '../../kubeproxy/rules.js';
import type { Target } from '../lab.js';

export const NETWORKS = {
  office: '192.168.10.0/24',
  vpc: '10.0.1.0/24',
  services: '10.96.0.0/16',
  pods: '10.244.0.0/16',
} as const;

export const HOSTS = {
  office: { ip: '192.168.10.10' },
  vpn: { ip: '10.0.1.2', tunnelIp: '192.168.10.1' },
  node1: { ip: '10.0.1.11', podCIDR: '10.244.1.0/24', gateway: '10.244.1.1' },
  node2: { ip: '10.0.1.12', podCIDR: '10.244.2.0/24', gateway: '10.244.2.1' },
} as const;

export type NodeName = 'node1' | 'node2';

// The VPC's router, the nodes' default route (an address on the vpc
// bridge, forwarding off). Like a cloud VPC's own router it has no route
// for the Service CIDR, so a packet to a ClusterIP that no rule rewrote
// (a ping) leaves the node and is dropped there without an answer. Without
// it the node itself would answer "network unreachable", which no cloud
// node does; and in nftables mode the packet must be routed to meet
// kube-proxy's forward-hook checks (cluster-ips-check) at all.
export const VPC_ROUTER = '10.0.1.1';

// Extra office addresses the load generator spreads connections over, so
// no 4-tuple is reused within a benchmark.
export const OFFICE_LOAD_SOURCES = ['192.168.10.20', '192.168.10.21', '192.168.10.22', '192.168.10.23'];

export interface PodSpec {
  name: string;
  namespace: string;
  node: NodeName;
  ip: string;
  port: number;
  proto: 'http' | 'mysql';
}

export const PODS: PodSpec[] = [
  { name: 'nginx', namespace: 'default', node: 'node1', ip: '10.244.1.2', port: 80, proto: 'http' },
  { name: 'mysql', namespace: 'default', node: 'node2', ip: '10.244.2.2', port: 3306, proto: 'mysql' },
];

export interface ServiceSpec {
  namespace: string;
  name: string;
  portName: string;
  port: number;
  clusterIP: string;
  pod: string;
}

export const SERVICES: ServiceSpec[] = [
  { namespace: 'default', name: 'nginx', portName: 'http', port: 80, clusterIP: '10.96.48.29', pod: 'nginx' },
  { namespace: 'default', name: 'mysql', portName: 'mysql', port: 3306, clusterIP: '10.96.207.61', pod: 'mysql' },
];

// Namespace suffix → host name in events.
export const NAMESPACES: Record<string, string> = {
  office: 'office',
  vpn: 'vpn',
  vpc: 'vpc',
  node1: 'node1',
  node2: 'node2',
  'pod-nginx': 'nginx',
  'pod-mysql': 'mysql',
};

export function netnsName(prefix: string, suffix: string): string {
  return `${prefix}${suffix}`;
}

export function podNetns(prefix: string, pod: string): string {
  return `${prefix}pod-${pod}`;
}

// Every namespace a lab with this prefix has, in the order they are made.
export function labNamespaces(prefix: string): string[] {
  return Object.keys(NAMESPACES).map((s) => netnsName(prefix, s));
}

export function servicePorts(): ServicePort[] {
  return SERVICES.map((s) => {
    const pod = PODS.find((p) => p.name === s.pod)!;
    return {
      namespace: s.namespace,
      name: s.name,
      portName: s.portName,
      protocol: 'TCP',
      clusterIP: s.clusterIP,
      port: s.port,
      endpoints: [{ ip: pod.ip, port: pod.port }],
    };
  });
}

export function targets(): Target[] {
  const list: Target[] = [];
  for (const s of SERVICES) {
    const pod = PODS.find((p) => p.name === s.pod)!;
    list.push({ name: s.name, via: 'service', ip: s.clusterIP, port: s.port, proto: pod.proto, pod: pod.name });
  }
  for (const p of PODS)
    list.push({ name: `pod/${p.name}`, via: 'pod', ip: p.ip, port: p.port, proto: p.proto, pod: p.name });
  return list;
}

export function labStatus(
  prefix: string,
  up: boolean,
  kubeProxy: KubeProxyConfig,
  inodes: Record<string, number> = {},
): LabStatus {
  const host = (suffix: string, ip: string) => ({
    netns: netnsName(prefix, suffix),
    ip,
    ...(inodes[suffix] !== undefined ? { inode: inodes[suffix] } : {}),
  });
  return {
    backend: 'netns',
    prefix,
    up,
    hosts: {
      office: host('office', HOSTS.office.ip),
      vpn: host('vpn', HOSTS.vpn.ip),
      node1: host('node1', HOSTS.node1.ip),
      node2: host('node2', HOSTS.node2.ip),
    },
    pods: PODS.map((p) => ({
      name: p.name,
      namespace: p.namespace,
      node: p.node,
      ip: p.ip,
      port: p.port,
      netns: podNetns(prefix, p.name),
    })),
    services: SERVICES.map((s) => {
      const pod = PODS.find((p) => p.name === s.pod)!;
      return {
        namespace: s.namespace,
        name: s.name,
        portName: s.portName,
        protocol: 'TCP' as const,
        port: s.port,
        clusterIP: s.clusterIP,
        endpoints: [{ ip: pod.ip, port: pod.port, node: pod.node }],
      };
    }),
    kubeProxy,
    serviceCIDR: NETWORKS.services,
    officeCIDR: NETWORKS.office,
  };
}
