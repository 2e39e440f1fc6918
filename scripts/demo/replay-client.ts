// An agent stand-in that answers from a recording: each command gets the
// answer the live run recorded for it (the next request to that target,
// the next config change, the next observation of that kind), and the
// recorded events up to that point are delivered first, in order. So a
// walkthrough step runs the same code on a recording as on a live lab,
// and its claims are checked against what that run's kernel did.

import type { AgentClient, EventListener } from '../../src/agent/client.js';
import {
  type Command,
  type CommandName,
  type CommandOf,
  parseReply,
  type Reply,
  widen,
} from '../../src/agent/protocol.js';
import { NatscopeError } from '../../src/errors.js';
import { isKernelEvent, type LabStatus, type NatscopeEvent } from '../../src/events/types.js';
import type { DemoContext } from './context.js';

export class ReplayClient implements AgentClient {
  readonly where = 'native' as const;
  private readonly listeners = new Set<EventListener>();
  private emitted = 0; // events delivered so far
  private searchFrom = 0; // answers are looked up after the last answer given

  constructor(private readonly events: NatscopeEvent[]) {}

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliverTo(index: number): void {
    for (; this.emitted <= index && this.emitted < this.events.length; this.emitted++) {
      for (const l of this.listeners) l(this.events[this.emitted]!);
    }
  }

  // Delivers what the recording holds before its first answer: the lab's status and options.
  start(): void {
    const first = this.events.findIndex((e) => e.kind === 'request' || e.kind === 'observation');
    this.deliverTo(first < 0 ? this.events.length - 1 : first - 1);
  }

  // Kernel events recorded within `ms` after the last delivered event (late drops).
  settle(ms: number): void {
    const last = this.events[this.emitted - 1];
    if (!last) return;
    let i = this.emitted;
    while (i < this.events.length && isKernelEvent(this.events[i]!) && this.events[i]!.t - last.t <= ms * 1e6) i++;
    this.deliverTo(i - 1);
  }

  private answer(describe: string, match: (e: NatscopeEvent) => boolean): NatscopeEvent {
    const index = this.events.findIndex((e, i) => i >= this.searchFrom && match(e));
    if (index < 0)
      throw new NatscopeError(`the recording holds no ${describe} at this point`, {
        hint: 'record a full walkthrough: natscope demo --auto --record FILE',
      });
    this.deliverTo(index);
    this.searchFrom = index + 1;
    return this.events[index]!;
  }

  async call<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>> {
    // the recorded answer, checked as a live agent's reply would be
    return parseReply(command.cmd, this.recorded(widen(command)));
  }

  private recorded(command: Command): unknown {
    switch (command.cmd) {
      case 'request':
        return this.answer(`request to ${command.target}`, (e) => e.kind === 'request' && e.target === command.target);
      case 'ruleTrace':
        return this.ruleTrace(command.target);
      case 'set': {
        const e = this.answer(
          'kube-proxy change',
          (x) =>
            x.kind === 'config' &&
            x.change !== null &&
            (command.masqueradeAll === undefined || x.kubeProxy.masqueradeAll === command.masqueradeAll) &&
            (command.clusterCIDR === undefined || x.kubeProxy.clusterCIDR === command.clusterCIDR),
        );
        return { kubeProxy: e.kind === 'config' ? e.kubeProxy : null, syncMs: 0 };
      }
      case 'rules':
      case 'conntrack':
        return this.observation(command.cmd, command.node);
      case 'routes':
        return this.observation('routes', command.host);
      case 'ping':
        return this.observation('ping', command.target);
      case 'load':
        return this.observation('load', command.target);
      case 'drops':
        return this.observation('drops', 'vpn');
      case 'status': {
        const s = this.events.find((e) => e.kind === 'status' && e.lab);
        return { lab: s && s.kind === 'status' ? s.lab : null, where: this.where, probes: [] };
      }
      // tracing was the live run's: a replay has nothing to start or stop
      case 'trace':
        return { attachMs: 0, probes: command.probes };
      case 'untrace':
        return null;
      case 'shutdown':
        return { stopped: true };
    }
  }

  // A traced request: the next rule path recorded for the target, and the
  // request event the agent streamed just before it (recordings made before
  // rule paths were recorded hold requests alone, and say so). What the
  // tracing cost is not recorded.
  private ruleTrace(target: string): unknown {
    const isPath = (e: NatscopeEvent) => e.kind === 'observation' && e.what === 'rulePath' && e.subject === target;
    const path = this.events.findIndex((e, i) => i >= this.searchFrom && isPath(e));
    const isRequest = (e: NatscopeEvent | undefined) => e?.kind === 'request' && e.target === target;
    let at = path - 1;
    while (at >= this.searchFrom && !isRequest(this.events[at])) at--;
    if (path < 0 || at < this.searchFrom) {
      const any = this.events.some((e) => e.kind === 'observation' && e.what === 'rulePath');
      throw new NatscopeError(
        any
          ? `the recording holds no traced request to ${target} at this point`
          : `the recording holds no rule path for a request to ${target}: it was recorded before rule paths were`,
        { hint: 'record the walkthrough again: sudo natscope demo --auto --vm on --record FILE' },
      );
    }
    this.deliverTo(path);
    this.searchFrom = path + 1;
    const request = this.events[at];
    const observed = this.events[path];
    return {
      request,
      rulePath: observed?.kind === 'observation' ? observed.result : null,
      skipped: {},
      timing: { requestMs: request?.kind === 'request' ? request.latencyMs : 0, totalMs: 0 },
    };
  }

  private observation(what: string, subject: string): unknown {
    const e = this.answer(
      `${what} of ${subject}`,
      (x) => x.kind === 'observation' && x.what === what && x.subject === subject,
    );
    return e.kind === 'observation' ? e.result : null;
  }

  // The rest of the recording (what came after the last answer).
  finish(): void {
    this.deliverTo(this.events.length - 1);
  }

  async close(): Promise<void> {
    this.finish();
  }
}

const WALKTHROUGH_HINT = 'record a walkthrough with: natscope demo --auto --record FILE';

// The lab a recording was made on, if the walkthrough can tell its story:
// the steps name the incident's hosts, pods and Services.
function recordedLab(name: string, recorded: NatscopeEvent[]): LabStatus {
  const status = recorded.find((e) => e.kind === 'status' && e.lab);
  const lab = status?.kind === 'status' ? status.lab : null;
  if (!lab) throw new NatscopeError(`${name} holds no lab status event`, { hint: WALKTHROUGH_HINT });
  const missing = [
    ...['office', 'vpn', 'node1', 'node2'].filter((h) => !lab.hosts[h]).map((h) => `host ${h}`),
    ...['nginx', 'mysql'].filter((p) => !lab.pods.some((x) => x.name === p)).map((p) => `pod ${p}`),
    ...['nginx', 'mysql'].filter((n) => !lab.services.some((x) => x.name === n)).map((n) => `Service ${n}`),
  ];
  if (missing.length)
    throw new NatscopeError(
      `${name} was not recorded on natscope's incident lab: its lab has no ${missing.join(', ')}`,
      {
        hint: WALKTHROUGH_HINT,
      },
    );
  return lab;
}

// A walkthrough's context on a recording: the steps run as they run live,
// their commands answered from what the recording holds.
export function replayContext(name: string, recorded: NatscopeEvent[], out: DemoContext['out']): DemoContext {
  const lab = recordedLab(name, recorded);
  const events: NatscopeEvent[] = [];
  const client = new ReplayClient(recorded);
  client.onEvent((e) => events.push(e));
  client.start();
  return {
    client,
    mode: 'replay',
    where: 'replay',
    lab,
    events,
    out,
    settle: async (ms) => client.settle(ms),
    close: async () => {
      client.finish();
      return { removed: [], kept: 'A recording leaves nothing to clean up.', left: [] };
    },
  };
}
