// natscope demo: the incident as a walkthrough (scripts/demo). Live on the
// netns lab (natively, or in the micro-VM where function probes are locked down),
// or from a recording without root.

import { labControl, openSession } from '../agent/control.js';
import type { Placement } from '../agent/placement.js';
import type { Session } from '../agent/session.js';
import { NatscopeError } from '../errors.js';
import { openRecording } from '../events/record.js';
import { replayFile } from '../events/sources.js';
import type { LabBackend, LabStatus, NatscopeEvent, ProxyMode } from '../events/types.js';
import { DEFAULT_PROBES } from '../tracer/probes.js';
import { progress } from '../util/progress.js';
import { requireRoot } from '../util/root.js';
import { safeLine } from '../util/terminal.js';
import type { DemoContext } from '../../scripts/demo/context.js';
import { replayContext } from '../../scripts/demo/replay-client.js';
import { narrator, runWalkthrough } from '../../scripts/demo/walkthrough.js';
import { STEPS } from '../../scripts/demo/steps/index.js';

export interface DemoOptions {
  lab: LabBackend;
  vm: Placement;
  auto: boolean;
  json: boolean;
  step?: number;
  record?: string;
  replay?: string;
  prefix: string;
  proxyMode: ProxyMode;
}

// The walkthrough's steps speak of iptables mode's rules and claims (the
// KUBE-SVC chain, KUBE-MARK-MASQ, a ClusterIP ping left unanswered): told
// on a lab in nftables mode they would be false.
function iptablesOnly(what: string): NatscopeError {
  return new NatscopeError(`the walkthrough tells the incident in iptables mode only, and ${what} nftables mode`, {
    hint: 'sudo natscope demo (iptables mode); for nftables mode use the lab directly: sudo natscope lab up --proxy-mode nftables',
    exitCode: 2,
  });
}

export async function demo(options: DemoOptions): Promise<number> {
  const startAt = options.step ?? 1;
  if (!Number.isInteger(startAt) || startAt < 1 || startAt > STEPS.length) {
    throw new NatscopeError(`there is no step ${options.step}`, {
      hint: `steps are 1 to ${STEPS.length}`,
      exitCode: 2,
    });
  }
  if (options.proxyMode !== 'iptables') throw iptablesOnly('this asks for');
  if (options.replay !== undefined && options.record !== undefined)
    throw new NatscopeError('--record and --replay do not go together', {
      hint: 'a replayed demo records nothing new: leave out --record (or --replay, to record a live run)',
      exitCode: 2,
    });
  const interactive = !options.auto && !options.json && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const write = (t: string) => process.stdout.write(t);
  const out = narrator(write, options.json);
  const ctx =
    options.replay !== undefined ? await fromRecording(options.replay, out) : await liveContext(options, [], out);
  if (!options.json) {
    process.stdout.write(
      `natscope demo: the incident, step by step (${ctx.mode === 'replay' ? `replaying ${options.replay}` : `${ctx.lab.backend} lab, ${ctx.where}`}).\n` +
        'Every ✓ below was checked against what the kernel and the lab did in this run.\n',
    );
  }
  const results = await runWalkthrough(ctx, { interactive, json: options.json, startAt, write });
  return results.every((r) => r.ok) && results.length > 0 ? 0 : 1;
}

async function fromRecording(file: string, out: DemoContext['out']): Promise<DemoContext> {
  const recorded: NatscopeEvent[] = [];
  const onWarning = (message: string) => process.stderr.write(`natscope: warning: ${safeLine(message)}\n`);
  for await (const e of replayFile(file, { onWarning })) recorded.push(e);
  return replayContext(file, recorded, out);
}

async function liveContext(
  options: DemoOptions,
  events: NatscopeEvent[],
  out: DemoContext['out'],
): Promise<DemoContext> {
  requireRoot('demo');
  if ((await modeOfLabUp(options)) === 'nftables')
    throw iptablesOnly(`the lab that is up (prefix ${options.prefix}) runs kube-proxy in`);
  const record = options.record !== undefined ? await openRecording(options.record) : undefined;
  const step = progress('demo');
  let session: Session;
  try {
    session = await openSession({
      vm: options.vm,
      prefix: options.prefix,
      lab: options.lab,
      probes: DEFAULT_PROBES,
      bringUp: true,
      onEvent: (e) => {
        if (e.kind === 'reply') return;
        events.push(e);
        record?.write(e);
      },
      log: step.log,
    });
  } catch (error) {
    await record?.close();
    throw error;
  }
  let closed: { removed: string[]; kept: string | null; left: string[] } | null = null;
  return {
    client: session.client,
    mode: 'live',
    where: session.where,
    lab: session.lab as LabStatus,
    events,
    out,
    settle: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: async () => {
      if (closed) return closed;
      await session.close();
      await record?.close();
      const left = await session.leftovers();
      if (!session.owned) {
        closed = {
          removed: ['the tracer'],
          kept: `The lab was up before this walkthrough, so it stays up: natscope lab down${options.lab === 'kind' ? ' --lab kind' : ''} removes it.`,
          left,
        };
      } else if (session.where === 'micro-vm') {
        closed = { removed: ['the micro-VM, with the lab and the tracer inside it'], kept: null, left };
      } else {
        closed = { removed: ['the tracer', "the lab's namespaces, its pods and rules"], kept: null, left };
      }
      return closed;
    },
  };
}

// kube-proxy's mode in the lab that is up, before anything is started (null: no lab is up).
async function modeOfLabUp(options: DemoOptions): Promise<ProxyMode | null> {
  const client = await (await labControl(options.lab))
    .connect({ prefix: options.prefix, vm: options.vm })
    .catch(() => null);
  if (!client) return null;
  try {
    return (await client.call({ cmd: 'status' })).lab?.kubeProxy.mode ?? null;
  } finally {
    await client.close();
  }
}
