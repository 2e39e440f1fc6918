// One lab request with the kernel's rule tracing on: the request leaves
// the office from a source port chosen here (so the trace tables match
// that flow only), every host it crosses reports the rules its packets
// met, and the records become the request's rule path. traceRequest is
// what both labs share; tracedRequest is the netns lab's (the kind lab's:
// lab/kind/ruleTrace.ts).

import { randomInt } from 'node:crypto';
import { NatscopeError } from '../errors.js';
import type { KubeProxyConfig, RequestEvent } from '../events/types.js';
import { helperPath } from '../lab/netns/build.js';
import { inNetns } from '../lab/netns/exec.js';
import type { NetnsLab } from '../lab/netns/lab.js';
import { HOSTS, PODS, netnsName } from '../lab/netns/topology.js';
import { requestEvent } from '../lab/request.js';
import { netnsInode } from '../tracer/netns.js';
import type { TracedHost } from './listener.js';
import { type HostTrace, type TracedRules, withRuleTracing } from './monitor.js';
import { namedNetnsPath } from './netnsPath.js';
import { tracedRules } from './backend.js';
import { explainRulePath, type RuleTrace } from './rulePath.js';
import { withTraceLock } from './traceLock.js';
import type { TracedFlow } from './traceTable.js';

// Source ports for traced requests: below the kernel's ephemeral range
// (32768-60999), so no other connection of the lab's uses them, and a new
// one each time: a port whose last flow conntrack still remembers would
// skip the nat chains this is about.
export const TRACED_PORTS = { min: 20000, max: 29999 } as const;

// The longest a traced request may wait for its answer. The lab's answers
// come in milliseconds or never; a trace holds the lab's trace lock
// (traceLock.ts) while it waits, and a second trace waits behind it.
export const TRACED_TIMEOUT_MAX_S = 20;

// the hosts a request crosses, in order
export const TRACED_HOSTS = ['office', 'vpn', 'node1', 'node2'] as const;

export interface TracedRequest extends RuleTrace {
  // the raw records, for the lab tests
  hosts: HostTrace[];
}

// The flow of a request to this target from the office, from this port.
export function tracedFlow(target: { via: 'service' | 'pod'; pod: string }, clientPort: number): TracedFlow {
  const pod = PODS.find((p) => p.name === target.pod);
  return {
    client: HOSTS.office.ip,
    clientPort,
    // the VPN routes the Service CIDR to node1: node1 is where a Service request is NATed
    masqueradedLeg:
      target.via === 'service' && pod ? { node: HOSTS.node1.ip, endpoint: pod.ip, endpointPort: pod.port } : null,
  };
}

export function pickTracedPort(): number {
  return randomInt(TRACED_PORTS.min, TRACED_PORTS.max + 1);
}

// The request program's argv: this target, from this source port.
export function tracedRequestArgv(
  target: { proto: string; ip: string; port: number },
  clientPort: number,
  timeoutMs: number,
): string[] {
  return [
    helperPath(),
    'request',
    '--proto',
    target.proto,
    '--timeout-ms',
    String(timeoutMs),
    '--sport',
    String(clientPort),
    target.ip,
    String(target.port),
  ];
}

export interface RequestToTrace {
  // the lab's prefix: one trace of a lab at a time (traceLock.ts says why)
  lab: string;
  // how long the request waits for an answer
  timeoutMs: number;
  // the hosts the request crosses, in order
  hosts: TracedHost[];
  flow: TracedFlow;
  kubeProxy: KubeProxyConfig;
  // the rules the hosts' kernels apply: which rule tracing reads them (backend.ts)
  rules: TracedRules;
  // sends the request (from flow.clientPort)
  send: () => Promise<RequestEvent>;
  // hears the request's outcome as soon as it has one, before tracing is taken down
  onRequest?: (request: RequestEvent) => void;
}

// Sends the request with its flow traced on its hosts; the rule path it took.
export async function traceRequest(r: RequestToTrace): Promise<TracedRequest> {
  const started = performance.now();
  if (!(r.timeoutMs > 0 && r.timeoutMs <= TRACED_TIMEOUT_MAX_S * 1000))
    throw new NatscopeError(`a traced request waits ${TRACED_TIMEOUT_MAX_S} s at most, not ${r.timeoutMs / 1000} s`, {
      hint: `a shorter timeout: --timeout 3`,
      exitCode: 2,
    });
  let requestMs = 0;
  const traced = await withTraceLock(r.lab, () =>
    withRuleTracing(
      r.hosts,
      r.flow,
      async () => {
        const t0 = performance.now();
        const event = await r.send();
        requestMs = performance.now() - t0;
        // heard now, stamped now: the rule tracing's teardown takes seconds in the micro-VM, and an
        // event sent after it would land behind the kernel events that followed it
        r.onRequest?.(event);
        return event;
      },
      r.rules,
    ),
  );
  return {
    request: traced.result,
    rulePath: explainRulePath(traced.hosts, r.flow, r.kubeProxy),
    skipped: Object.fromEntries(traced.hosts.map((h) => [h.host, h.skipped])),
    timing: {
      requestMs: Math.round(requestMs * 10) / 10,
      totalMs: Math.round((performance.now() - started) * 10) / 10,
    },
    hosts: traced.hosts,
  };
}

export async function tracedRequest(
  lab: NetnsLab,
  targetName: string,
  timeoutMs: number,
  onRequest?: (request: RequestEvent) => void,
): Promise<TracedRequest> {
  const target = lab.resolveTarget(targetName);
  const clientPort = pickTracedPort();
  const office = netnsName(lab.prefix, 'office');
  return traceRequest({
    lab: lab.prefix,
    timeoutMs,
    onRequest,
    hosts: TRACED_HOSTS.map((host) => ({ host, netns: namedNetnsPath(netnsName(lab.prefix, host)) })),
    flow: tracedFlow(target, clientPort),
    kubeProxy: lab.kubeProxy,
    rules: tracedRules(lab.iptables, lab.kubeProxy.mode),
    send: async () => {
      const result = await inNetns(office, tracedRequestArgv(target, clientPort, timeoutMs));
      return requestEvent(String(result.stdout), target, await netnsInode(namedNetnsPath(office)).catch(() => 0));
    },
  });
}
