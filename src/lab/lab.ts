// The Lab interface both labs implement (netns: namespaces on one host;
// kind: a real cluster). Commands, the agent and every frontend speak to a
// lab only through this.

import type { KubeProxySync, LabBackend, LabStatus, LoadResult, PingResult, RequestEvent } from '../events/types.js';
import type { RuleTrace } from '../ruletrace/rulePath.js';
import type { NetnsResolver } from '../tracer/netns.js';
import type { ConntrackEntry } from './conntrack.js';

// declared with the events that record them (src/events/types.ts)
export type { LoadResult, PingResult };

export type { KubeProxySync } from '../events/types.js';

export interface Lab {
  readonly backend: LabBackend;
  status(): Promise<LabStatus>;
  // a TCP request from the office host to a Service (ClusterIP) or a pod
  request(target: string, timeoutMs: number): Promise<RequestEvent>;
  ping(target: string): Promise<PingResult>;
  setKubeProxy(change: { masqueradeAll?: boolean; clusterCIDR?: string | null }): Promise<KubeProxySync>;
  // the node's kube-proxy rules in its mode (iptables-save -t nat, or nft list table ip kube-proxy)
  rules(node: string): Promise<string>;
  // a host's routing table (ip route)
  routes(host: string): Promise<string>;
  conntrack(node: string): Promise<ConntrackEntry[]>;
  // packets the vpn's "cloud fabric" rule dropped so far
  vpnDrops(): Promise<number>;
  // one request with the kernel's rule tracing on every host it crosses (trace --rules);
  // onRequest hears the request's outcome as soon as it has one, before tracing is taken down
  ruleTrace(target: string, timeoutMs: number, onRequest?: (request: RequestEvent) => void): Promise<RuleTrace>;
  // connections per second from the office to a target (benchmarks)
  load(target: string, seconds: number, workers: number): Promise<LoadResult>;
  // the office addresses load() connects from: their events are counted, not streamed
  loadSources(): string[];
  registerHosts(resolver: NetnsResolver): Promise<void>;
  down(): Promise<void>;
}

export interface LabUpOptions {
  masqueradeAll: boolean;
  clusterCIDR: string | null;
}

// What `lab request` accepts, resolved against the lab's Services and pods.
export interface Target {
  name: string;
  via: 'service' | 'pod';
  ip: string;
  port: number;
  proto: 'http' | 'mysql';
  pod: string;
}
