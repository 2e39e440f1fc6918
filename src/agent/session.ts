// A session: one frontend's lab plus (optionally) a tracer (trace, tui,
// demo), reached through an AgentClient wherever the agent runs. This file
// holds what every kind of session shares; src/agent/netnsControl.ts and
// kindControl.ts open them.

import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, NatscopeError } from '../errors.js';
import type { LabBackend, LabStatus, NatscopeEvent, ProxyMode, StatusEvent } from '../events/types.js';
import type { Lab } from '../lab/lab.js';
import type { ProbeFamily } from '../tracer/parse.js';
import { onCleanup, orUndo } from '../util/cleanup.js';
import { isAlive } from '../util/process.js';
import { inProcessAgent, StreamClient, type AgentClient, type EventListener } from './client.js';
import type { Placement, Where } from './placement.js';
import type { Reply } from './protocol.js';

export interface SessionOptions {
  vm: Placement;
  lab: LabBackend;
  prefix: string;
  // the user named the prefix (a lab that is not up is then an error, not "no lab")
  prefixGiven?: boolean;
  // no lab with this prefix is up: bring one up (and down at the end), or
  // trace without one (every namespace)
  bringUp: boolean;
  masqueradeAll?: boolean;
  clusterCIDR?: string | null;
  // kube-proxy's mode of a lab this session brings up (default iptables)
  proxyMode?: ProxyMode;
  // start tracing these right away (null: no tracer)
  probes: ProbeFamily[] | null;
  allNetns?: boolean;
  // events per CPU and second reported whole (0 = all; default: the tracer's)
  detail?: number;
  onEvent: EventListener;
  log: (line: string) => void;
  attachTimeoutMs?: number;
  // host folders the micro-VM may write to (at the same path)
  shares?: string[];
}

export interface Session {
  client: AgentClient;
  where: Where;
  lab: LabStatus | null;
  // this session brought the lab up, so closing it takes the lab down
  owned: boolean;
  // settles, with the reason, if the kernel side ends on its own (the VM or
  // the agent died, bpftrace exited): a frontend then stops instead of waiting
  ended: Promise<string>;
  // stops the tracer (if one runs) and says what it saw
  stopTracing(): Promise<Reply<'untrace'>>;
  // after close: what this session started that still exists (nothing, unless something leaked)
  leftovers(): Promise<string[]>;
  // stops the tracer, and the lab if this session brought it up
  close(): Promise<void>;
}

// The agent in this process, on a lab that is up (or none: tracepoints on
// every namespace); `owned`: close takes the lab down.
export async function openInProcess(
  lab: Lab | null,
  owned: boolean,
  probes: ProbeFamily[] | null,
  options: SessionOptions,
): Promise<Session> {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await agent.shutdown(owned);
  };
  const { client, agent } = inProcessAgent(
    { lab, where: 'native', log: options.log, attachTimeoutMs: options.attachTimeoutMs },
    close,
  );
  client.onEvent(options.onEvent);
  const cleanup = onCleanup('stop the session', close);
  await orUndo(cleanup, async () => {
    // without a lab every namespace is of interest
    if (probes) await agent.startTracing({ probes, allNetns: options.allNetns || !lab, detail: options.detail }, false);
    await agent.announce();
  });
  return {
    client,
    where: 'native',
    lab: lab ? await lab.status() : null,
    owned,
    ended: endedOf(client),
    stopTracing: () => agent.stopTracing(),
    async close() {
      await cleanup.run();
    },
    async leftovers() {
      const left: string[] = [];
      const pid = agent.lastTracerPid;
      if (pid !== null && isAlive(pid)) left.push(`bpftrace (pid ${pid})`);
      if (lab && owned && (await lab.status()).up) left.push(`the ${lab.backend} lab`);
      return left;
    },
  };
}

// A session whose agent is at the other end of a stream (the micro-VM's
// serial port, a broker's socket): the tracer's summary comes with `untrace`.
export async function stopTracingOver(client: AgentClient): Promise<Reply<'untrace'>> {
  return await client.call({ cmd: 'untrace' });
}

// Waits for the agent's first status event of the wanted state (ready, or tracing once probes attach).
export function waitForStatus(
  client: AgentClient,
  wanted: StatusEvent['state'],
  died: Promise<string>,
): Promise<StatusEvent> {
  return new Promise((resolve, reject) => {
    const off = client.onEvent((e: NatscopeEvent) => {
      if (e.kind === 'status' && e.state === wanted) {
        off();
        resolve(e);
      }
      if (e.kind === 'error' && e.source === 'agent-start') {
        off();
        reject(new NatscopeError(e.message));
      }
    });
    void died.then((why) => {
      off();
      reject(new NatscopeError(`the micro-VM stopped before the lab was ready: ${why}`, { exitCode: EXIT.vmFailure }));
    });
  });
}

// The tracer stopping on its own, or the agent's stream ending.
export function endedOf(client: AgentClient): Promise<string> {
  return new Promise((resolve) => {
    client.onEvent((e) => {
      if (e.kind === 'status' && e.state === 'stopped') resolve(e.message ?? 'the tracer stopped');
    });
    if (client instanceof StreamClient) {
      void client.finished.then(
        () => resolve('the agent went away'),
        (error: Error) => resolve(`the agent went away: ${error.message}`),
      );
    }
  });
}

// Gives a stream's closing a bound: `call` races `ms`.
export async function within(ms: number, work: Promise<unknown>): Promise<void> {
  await Promise.race([work.catch(() => undefined), sleep(ms)]);
}
