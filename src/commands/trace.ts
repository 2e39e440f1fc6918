// natscope trace: the event stream, live. Attaches the probes (natively,
// or in the micro-VM with the lab when function probes are locked down here) and
// prints each event as a line, or as JSON Lines with --json.

import { setTimeout as sleep } from 'node:timers/promises';
import { openSession } from '../agent/session.js';
import type { Placement } from '../agent/session.js';
import { encodeEvent } from '../events/codec.js';
import { openRecording, type Recording } from '../events/record.js';
import { formatEvent } from '../events/format.js';
import type { NatscopeEvent } from '../events/types.js';
import { onInterrupt } from '../util/cleanup.js';
import { progress } from '../util/progress.js';
import { needsFunctionProbes, parseProbeList } from '../tracer/probes.js';
import { Agent } from '../agent/agent.js';
import { requireRoot } from '../util/root.js';
import { readState } from '../lab/netns/state.js';
import { DEFAULT_PREFIX } from '../lab/netns/topology.js';
import { NetnsLab } from '../lab/netns/lab.js';

export interface TraceOptions {
  probes: string;
  json: boolean;
  record?: string;
  durationS?: number;
  allNetns: boolean;
  detail?: number;
  vm: Placement;
  attachTimeoutS: number;
  prefix?: string;
  lab?: 'netns' | 'kind';
}

export async function trace(options: TraceOptions): Promise<number> {
  const probes = parseProbeList(options.probes);
  requireRoot('trace');
  const step = progress('trace');
  const record = options.record !== undefined ? await openRecording(options.record) : undefined;
  let t0: number | undefined;
  let count = 0;
  const onEvent = (event: NatscopeEvent) => {
    if (event.kind === 'reply') return;
    t0 ??= event.t;
    count++;
    record?.write(event);
    process.stdout.write(`${options.json ? encodeEvent(event) : formatEvent(event, t0)}\n`);
  };

  // Drops need only a tracepoint: trace them right here, whatever the kernel
  // forbids, with or without a lab.
  if (!needsFunctionProbes(probes) && options.vm !== 'on' && options.lab !== 'kind')
    return traceTracepointsHere(probes, options, onEvent, step.log, record);

  const session = await openSession({
    vm: options.vm,
    lab: options.lab,
    prefix: options.prefix,
    probes,
    allNetns: options.allNetns,
    detail: options.detail,
    onEvent,
    log: step.log,
    attachTimeoutMs: options.attachTimeoutS * 1000,
  });
  step.log(
    `tracing ${probes.join(',')} (${session.where}); ${options.durationS ? `for ${options.durationS} s` : 'Ctrl-C to stop'}`,
  );
  const end = untilEnd(options.durationS);
  const stoppedBy = await Promise.race([end.ended.then(() => null), session.ended]);
  await session.close();
  await record?.close();
  step.done(`${count} events`);
  end.done();
  if (stoppedBy !== null) {
    process.stderr.write(`natscope: tracing ended early: ${stoppedBy}\n`);
    return 1;
  }
  return 0;
}

async function traceTracepointsHere(
  probes: ReturnType<typeof parseProbeList>,
  options: TraceOptions,
  onEvent: (e: NatscopeEvent) => void,
  log: (s: string) => void,
  record: Recording | undefined,
): Promise<number> {
  requireRoot('trace');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const lab = (await readState(prefix))?.complete ? await NetnsLab.open(prefix) : null;
  let stopped!: (why: string) => void;
  const ended = new Promise<string>((resolve) => (stopped = resolve));
  const agent = new Agent({
    lab,
    where: 'native',
    log,
    attachTimeoutMs: options.attachTimeoutS * 1000,
    emit: (e) => {
      if (e.kind === 'status' && e.state === 'stopped') stopped(e.message ?? 'the tracer stopped');
      onEvent(e);
    },
  });
  log(`attaching ${probes.join(',')} natively (tracepoints only)${lab ? '; lab hosts named' : ''}`);
  // without a lab every namespace is of interest
  const { attachMs } = await agent.startTracing({ probes, allNetns: options.allNetns || !lab, detail: options.detail });
  log(
    `attached in ${(attachMs / 1000).toFixed(1)} s; ${options.durationS ? `tracing for ${options.durationS} s` : 'Ctrl-C to stop'}`,
  );
  const end = untilEnd(options.durationS);
  const stoppedBy = await Promise.race([end.ended.then(() => null), ended]);
  const summary = (await agent.stopTracing()) as {
    received?: number;
    lost?: number;
    lostReportedByBpftrace?: number;
    counted?: number;
  };
  await record?.close();
  if (summary.received !== undefined) {
    const counted = summary.counted ? `; ${summary.counted} more counted in the kernel (over --detail)` : '';
    log(
      `${summary.received} events, ${summary.lost} lost (bpftrace reported ${summary.lostReportedByBpftrace})${counted}`,
    );
  }
  end.done();
  if (stoppedBy !== null) {
    process.stderr.write(`natscope: tracing ended early: ${stoppedBy}\n`);
    return 1;
  }
  return 0;
}

// Until the duration passes or the user interrupts (Ctrl-C, SIGTERM). An
// interrupt waits for `done()`, so the orderly stop (final loss count,
// recording flushed) finishes before natscope exits.
export function untilEnd(durationS?: number): { ended: Promise<void>; done(): void } {
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let off: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => {
    off = onInterrupt(async () => {
      resolve();
      await finished;
    });
    if (durationS) void sleep(durationS * 1000).then(() => resolve());
  });
  return {
    ended,
    done() {
      off();
      finish();
    },
  };
}
