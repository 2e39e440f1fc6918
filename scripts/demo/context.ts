// What a walkthrough step works with: the agent (live, or a recording), the
// events of this run so far, and a narrator. Every claim a step makes is a
// Claim checked against those events and command outputs.

import type { AgentClient } from '../../src/agent/client.js';
import { FlowTracker, type Flow } from '../../src/events/flows.js';
import type { LabStatus, NatscopeEvent, ProxyMode, RequestEvent } from '../../src/events/types.js';
import type { RuleTrace } from '../../src/ruletrace/rulePath.js';

export interface Claim {
  text: string;
  ok: boolean;
  // what was seen instead, when it did not hold
  saw?: string;
}

export interface StepOutcome {
  claims: Claim[];
  evidence: Record<string, unknown>;
}

export interface KubeProxyState {
  masqueradeAll: boolean;
  clusterCIDR: string | null;
}

export interface Narrator {
  say(text: string): void;
  command(line: string): void;
  block(lines: string[]): void;
}

export interface DemoContext {
  client: AgentClient;
  mode: 'live' | 'replay';
  where: string;
  lab: LabStatus;
  events: NatscopeEvent[];
  out: Narrator;
  // lets late kernel events arrive (retransmitted SYN-ACKs dropped seconds later)
  settle(ms: number): Promise<void>;
  // what closing the session removed, what it left as found, and what is still there that should not be (step 10)
  close(): Promise<{ removed: string[]; kept: string | null; left: string[] }>;
}

// What a step tells before and after it runs.
export interface StepText {
  title: string;
  purpose: string;
  lookAt: string;
  hint: string;
}

export interface Step extends StepText {
  n: number;
  // what the step tells otherwise when kube-proxy runs in nftables mode
  nftables?: Partial<StepText>;
  // the kube-proxy options the step needs when started directly (--step N, or b)
  needs: KubeProxyState | null;
  run(ctx: DemoContext): Promise<StepOutcome>;
}

// kube-proxy's mode on the lab this walkthrough runs on (or was recorded on).
export function proxyMode(ctx: DemoContext): ProxyMode {
  return ctx.lab.kubeProxy.mode;
}

// A step's text in a mode: iptables mode's, with what nftables mode tells otherwise.
export function toldIn(step: Step, mode: ProxyMode): StepText {
  const base = { title: step.title, purpose: step.purpose, lookAt: step.lookAt, hint: step.hint };
  return mode === 'nftables' ? { ...base, ...step.nftables } : base;
}

export function claim(text: string, ok: boolean, saw?: string): Claim {
  return ok || saw === undefined ? { text, ok } : { text, ok, saw };
}

export async function request(ctx: DemoContext, target: string, timeoutMs = 3000): Promise<RequestEvent> {
  ctx.out.command(`natscope lab request ${target}`);
  return await ctx.client.call({ cmd: 'request', target, timeoutMs });
}

// One request with the kernel's rule tracing on: its request event, and the rule path its packets took.
export async function tracedRequest(ctx: DemoContext, target: string, timeoutMs = 3000): Promise<RuleTrace> {
  ctx.out.command(`natscope trace --rules --request ${target}`);
  return await ctx.client.call({ cmd: 'ruleTrace', target, timeoutMs });
}

export async function setKubeProxy(ctx: DemoContext, change: Partial<KubeProxyState>): Promise<void> {
  if (change.masqueradeAll !== undefined)
    ctx.out.command(`natscope lab set masquerade-all ${change.masqueradeAll ? 'on' : 'off'}`);
  if (change.clusterCIDR !== undefined)
    ctx.out.command(`natscope lab set cluster-cidr ${change.clusterCIDR ?? 'none'}`);
  await ctx.client.call({ cmd: 'set', ...change });
}

// The flows of this run so far, and the one a request made.
export function flows(ctx: DemoContext): FlowTracker {
  const tracker = new FlowTracker();
  for (const e of ctx.events) tracker.add(e);
  return tracker;
}

export function flowOf(ctx: DemoContext, r: RequestEvent): Flow | undefined {
  return flows(ctx).ofRequest(r);
}

export function outcomeText(r: RequestEvent): string {
  if (r.outcome === 'answered') return `answered in ${r.latencyMs} ms, the pod saw ${r.peer}`;
  if (r.outcome === 'timeout') return `no answer within ${Math.round(r.latencyMs / 1000)} s`;
  return r.outcome;
}

export function latestConfig(ctx: DemoContext): KubeProxyState | null {
  for (let i = ctx.events.length - 1; i >= 0; i--) {
    const e = ctx.events[i]!;
    if (e.kind === 'config') return { masqueradeAll: e.kubeProxy.masqueradeAll, clusterCIDR: e.kubeProxy.clusterCIDR };
  }
  return null;
}

export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

// The node a prefix is routed to on a host ("10.96.0.0/16 via 10.0.1.11 dev eth0").
export function routeVia(routes: string, prefix: string): string | null {
  const line = routes.split('\n').find((l) => l.startsWith(`${prefix} `));
  return line ? (/ via (\S+)/.exec(line)?.[1] ?? null) : null;
}

export function nodeByIp(lab: LabStatus, ip: string | null): string | null {
  if (!ip) return null;
  return Object.entries(lab.hosts).find(([, h]) => h.ip === ip)?.[0] ?? null;
}
