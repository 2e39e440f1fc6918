// natscope trace: the event stream, live. Attaches the probes (natively,
// or in the micro-VM with the lab when function probes are locked down here) and
// prints each event as a line, or as JSON Lines with --json.

import { attachTimeoutMsOf } from '../tracer/outcome.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSession } from '../agent/control.js';
import type { Placement } from '../agent/placement.js';
import type { Session } from '../agent/session.js';
import { encodeEvent } from '../events/codec.js';
import { openRecording } from '../events/record.js';
import { formatEvent } from '../events/format.js';
import type { LabBackend, NatscopeEvent } from '../events/types.js';
import { onInterrupt } from '../util/cleanup.js';
import { progress } from '../util/progress.js';
import { needsFunctionProbes, parseProbeList } from '../tracer/probes.js';
import { requireRoot } from '../util/root.js';

export interface TraceOptions {
  probes: string;
  json: boolean;
  record?: string;
  durationS?: number;
  allNetns: boolean;
  detail?: number;
  vm: Placement;
  // default: the tracer's, for where it runs
  attachTimeoutS?: number;
  prefix: string;
  // the user named the prefix: its lab must be up
  prefixGiven: boolean;
  lab: LabBackend;
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

  const started = performance.now();
  let session: Session;
  try {
    session = await openSession({
      vm: options.vm,
      lab: options.lab,
      prefix: options.prefix,
      prefixGiven: options.prefixGiven,
      // function probes come with a lab (brought up here if none is); drops,
      // a tracepoint, are traced wherever a lab is, or on every namespace
      bringUp: needsFunctionProbes(probes),
      probes,
      allNetns: options.allNetns,
      detail: options.detail,
      onEvent,
      log: step.log,
      attachTimeoutMs: attachTimeoutMsOf(options.attachTimeoutS),
    });
  } catch (error) {
    await record?.close();
    throw error;
  }
  const readyS = ((performance.now() - started) / 1000).toFixed(1);
  const scope = session.lab ? `the lab ${session.lab.prefix}` : 'every namespace';
  // which rules the lab's nodes hold: what the NAT events came from
  const mode = session.lab ? `; kube-proxy in ${session.lab.kubeProxy.mode} mode` : '';
  step.log(
    `probes attached in ${readyS} s; tracing ${probes.join(',')} on ${scope} (${session.where})${mode}; ${options.durationS ? `for ${options.durationS} s` : 'Ctrl-C to stop'}`,
  );
  const end = untilEnd(options.durationS);
  const stoppedBy = await Promise.race([end.ended.then(() => null), session.ended]);
  const summary = stoppedBy === null ? await session.stopTracing().catch(() => null) : null;
  await session.close();
  await record?.close();
  if (summary) {
    const counted = summary.counted ? `; ${summary.counted} more counted in the kernel (over --detail)` : '';
    const load = summary.loadLeftOut ? `; ${summary.loadLeftOut} of the lab's load counted, not shown` : '';
    step.done(
      `${summary.received} events, ${summary.lost} lost (bpftrace reported ${summary.lostReportedByBpftrace})${counted}${load}; ${count} shown${mode}`,
    );
  } else step.done(`${count} events shown${mode}`);
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
