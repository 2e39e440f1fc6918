// natscope trace: the event stream, live. Attaches the probes (natively,
// or in the micro-VM with the lab when function probes are locked down here) and
// prints each event as a line, or as JSON Lines with --json.

import { createWriteStream, type WriteStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { openSession } from '../agent/session.js';
import type { Placement } from '../agent/session.js';
import { NatscopeError } from '../errors.js';
import { encodeEvent } from '../events/codec.js';
import { formatEvent } from '../events/format.js';
import type { NatscopeEvent } from '../events/types.js';
import { onInterrupt } from '../util/cleanup.js';
import { progress } from '../util/progress.js';
import { needsFunctionProbes, parseProbeList } from '../tracer/probes.js';
import { NetnsResolver, netnsInode } from '../tracer/netns.js';
import { startTracer } from '../tracer/bpftrace.js';
import { loadDropReasons } from '../tracer/btf.js';
import { ensureTracefs } from '../tracer/capabilities.js';
import { readState } from '../lab/netns/state.js';
import { DEFAULT_PREFIX } from '../lab/netns/topology.js';
import { NetnsLab } from '../lab/netns/lab.js';

export interface TraceOptions {
  probes: string;
  json: boolean;
  record?: string;
  durationS?: number;
  allNetns: boolean;
  vm: Placement;
  attachTimeoutS: number;
  prefix?: string;
  lab?: 'netns' | 'kind';
}

export async function trace(options: TraceOptions): Promise<number> {
  const probes = parseProbeList(options.probes);
  const step = progress('trace');
  let record: WriteStream | undefined;
  if (options.record) {
    record = createWriteStream(options.record, { flags: 'w' });
    await new Promise<void>((resolve, reject) => {
      record!.once('open', () => resolve());
      record!.once('error', (e) => reject(new NatscopeError(`cannot write ${options.record}: ${e.message}`)));
    });
  }
  let t0: number | undefined;
  let count = 0;
  const onEvent = (event: NatscopeEvent) => {
    if (event.kind === 'reply') return;
    t0 ??= event.t;
    count++;
    const line = encodeEvent(event);
    record?.write(`${line}\n`);
    process.stdout.write(`${options.json ? line : formatEvent(event, t0)}\n`);
  };

  // Drops need only a tracepoint: trace them right here, whatever the kernel
  // forbids, with or without a lab.
  if (!needsFunctionProbes(probes) && options.vm !== 'on' && options.lab !== 'kind') return traceTracepointsHere(probes, options, onEvent, step.log, record);

  const session = await openSession({
    vm: options.vm,
    lab: options.lab,
    prefix: options.prefix,
    probes,
    allNetns: options.allNetns,
    onEvent,
    log: step.log,
    attachTimeoutMs: options.attachTimeoutS * 1000,
  });
  step.log(`tracing ${probes.join(',')} (${session.where}); ${options.durationS ? `for ${options.durationS} s` : 'Ctrl-C to stop'}`);
  const end = untilEnd(options.durationS);
  await end.ended;
  await session.close();
  await closeRecord(record);
  step.done(`${count} events`);
  end.done();
  return 0;
}

async function traceTracepointsHere(
  probes: ReturnType<typeof parseProbeList>,
  options: TraceOptions,
  onEvent: (e: NatscopeEvent) => void,
  log: (s: string) => void,
  record: WriteStream | undefined,
): Promise<number> {
  if (process.getuid?.() !== 0) throw new NatscopeError('tracing needs root', { hint: 'sudo natscope trace --probes drop' });
  await ensureTracefs();
  const resolver = new NetnsResolver();
  resolver.register(await netnsInode('/proc/1/ns/net').catch(() => 0), 'host');
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const labUp = (await readState(prefix))?.complete;
  if (labUp) await (await NetnsLab.open(prefix)).registerHosts(resolver);
  log(`attaching ${probes.join(',')} natively (tracepoints only)${labUp ? '; lab hosts named' : ''}`);
  const keepAll = options.allNetns || !labUp;
  const tracer = await startTracer({
    probes,
    resolver,
    dropReasons: await loadDropReasons(),
    onEvent,
    filter: keepAll ? undefined : (e) => e.host !== '?' && e.host !== 'host',
    readyTimeoutMs: options.attachTimeoutS * 1000,
  });
  log(`attached in ${(tracer.attachMs / 1000).toFixed(1)} s; ${options.durationS ? `tracing for ${options.durationS} s` : 'Ctrl-C to stop'}`);
  const end = untilEnd(options.durationS);
  await Promise.race([end.ended, tracer.done]);
  const summary = await tracer.stop();
  await closeRecord(record);
  log(`${summary.received} events, ${summary.lost} lost (bpftrace reported ${summary.lostReportedByBpftrace})`);
  end.done();
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

async function closeRecord(record: WriteStream | undefined): Promise<void> {
  if (!record) return;
  await new Promise<void>((resolve) => record.end(resolve));
}
