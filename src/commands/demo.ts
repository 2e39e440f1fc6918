// natscope demo: the incident as a walkthrough (scripts/demo). Live on the
// netns lab (natively, or in the micro-VM where function probes are locked down),
// or from a recording without root; in kube-proxy's iptables or nftables mode,
// whichever the lab runs (or the recording was made in).

import { labControl, openSession } from '../agent/control.js';
import type { Placement } from '../agent/placement.js';
import type { Session } from '../agent/session.js';
import { NatscopeError } from '../errors.js';
import { attachTimeoutMsOf, replayAttaches } from '../tracer/outcome.js';
import { openRecording } from '../events/record.js';
import { replayFile } from '../events/sources.js';
import type { LabBackend, NatscopeEvent, ProxyMode } from '../events/types.js';
import { DEFAULT_PROBES } from '../tracer/probes.js';
import { progress } from '../util/progress.js';
import { requireRoot } from '../util/root.js';
import { DEFAULT_PREFIX } from '../lab/prefix.js';
import { safeLine } from '../util/terminal.js';
import { type DemoContext, proxyMode } from '../../scripts/demo/context.js';
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
  // kube-proxy's mode the user asked for (undefined: not asked; a lab brought up runs iptables mode)
  proxyMode?: ProxyMode;
  // how long bpftrace may take to attach (undefined: where it runs decides)
  attachTimeoutS?: number;
}

// The walkthrough tells the incident in the mode of the lab it runs on (or
// was recorded on): asked for another, its claims would be about rules that
// are not there.
function otherMode(what: string, asked: ProxyMode, hint: string): NatscopeError {
  return new NatscopeError(`${what}, and this asks for ${asked} mode`, {
    hint,
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
  if (options.replay !== undefined && options.record !== undefined)
    throw new NatscopeError('--record and --replay do not go together', {
      hint: 'a replayed demo records nothing new: leave out --record (or --replay, to record a live run)',
      exitCode: 2,
    });
  if (options.replay !== undefined && options.attachTimeoutS !== undefined) throw replayAttaches();
  const interactive = !options.auto && !options.json && Boolean(process.stdin.isTTY && process.stdout.isTTY);
  const write = (t: string) => process.stdout.write(t);
  const out = narrator(write, options.json);
  const ctx =
    options.replay !== undefined
      ? await fromRecording(options.replay, options.proxyMode, out)
      : await liveContext(options, [], out);
  if (!options.json) {
    process.stdout.write(
      `natscope demo: the incident, step by step (${ctx.mode === 'replay' ? `replaying ${options.replay}` : `${ctx.lab.backend} lab, ${ctx.where}`}, kube-proxy in ${proxyMode(ctx)} mode).\n` +
        'Every ✓ below was checked against what the kernel and the lab did in this run.\n',
    );
  }
  const results = await runWalkthrough(ctx, { interactive, json: options.json, startAt, write });
  return results.every((r) => r.ok) && results.length > 0 ? 0 : 1;
}

async function fromRecording(
  file: string,
  asked: ProxyMode | undefined,
  out: DemoContext['out'],
): Promise<DemoContext> {
  const recorded: NatscopeEvent[] = [];
  const onWarning = (message: string) => process.stderr.write(`natscope: warning: ${safeLine(message)}\n`);
  for await (const e of replayFile(file, { onWarning })) recorded.push(e);
  const ctx = replayContext(file, recorded, out);
  const has = proxyMode(ctx);
  if (asked !== undefined && asked !== has)
    throw otherMode(
      `${file} was recorded with kube-proxy in ${has} mode`,
      asked,
      `leave out --proxy-mode (the walkthrough follows the recording), or replay a walkthrough recorded in ${asked} mode`,
    );
  return ctx;
}

async function liveContext(
  options: DemoOptions,
  events: NatscopeEvent[],
  out: DemoContext['out'],
): Promise<DemoContext> {
  requireRoot('demo');
  const up = await modeOfLabUp(options);
  if (up !== null && options.proxyMode !== undefined && up !== options.proxyMode)
    throw otherMode(
      `the lab that is up (prefix ${options.prefix}) runs kube-proxy in ${up} mode`,
      options.proxyMode,
      `leave out --proxy-mode (the walkthrough follows the lab that is up), or take it down first: sudo natscope lab down${options.prefix === DEFAULT_PREFIX ? '' : ` --prefix ${options.prefix}`}`,
    );
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
      proxyMode: options.proxyMode ?? 'iptables',
      attachTimeoutMs: attachTimeoutMsOf(options.attachTimeoutS),
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
  // bringUp: a session opens with its lab, brought up if none was
  const lab = session.lab;
  if (lab === null) {
    await session.close();
    await record?.close();
    throw new Error('the walkthrough opened its session without a lab');
  }
  let closed: { removed: string[]; kept: string | null; left: string[] } | null = null;
  return {
    client: session.client,
    mode: 'live',
    where: session.where,
    lab,
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
