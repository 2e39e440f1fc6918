// Runs bpftrace with natscope's probes and turns its output into events.
// Start resolves once the kernel has attached every probe (bpftrace's
// attach notification, not its BEGIN, which runs before probes attach);
// stop ends it with SIGTERM (SIGINT may be ignored when inherited that way)
// and kills its process group if it lingers. It never outlives natscope:
// cleanups run on every exit path, and the program's flush marker, written
// ten times a second, makes bpftrace die of SIGPIPE if natscope is killed
// with -9.
// The probes batch events in kernel maps (probes/nat.bt, "Output"): each
// flush's events are sorted by time before they go out, and what the
// buffers hold when bpftrace is stopped arrives in its exit dump.
// This file runs the process; what it decides is data elsewhere: the
// events (flush.ts), whether it has attached (attach.ts), and what its end
// means to the user (outcome.ts).

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createWriteStream, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { NatscopeError, describeError } from '../errors.js';
import type { NatscopeEvent } from '../events/types.js';
import { onCleanup } from '../util/cleanup.js';
import { type Deferred, deferred } from '../util/deferred.js';
import { killGroup } from '../util/process.js';
import { makeRunDir, removeRunDir } from '../util/rundir.js';
import { splitLines } from '../util/lines.js';
import type { DropReasons } from './btf.js';
import { FlushAssembler, type TracerSummary } from './flush.js';
import type { NetnsResolver } from './netns.js';
import { ATTACH_NOTICE, type ParseContext, parseBpftraceLine, type ProbeFamily } from './parse.js';
import { DEFAULT_DETAIL_PER_SECOND, detailBudgetArgument } from './detail.js';
import { PROBES, composeProgram, needsFunctionProbes } from './probes.js';
import { type BpftraceFeatures, bpftraceEnv, type DetectedBpftrace, detectBpftrace } from './version.js';
import { AttachWatch } from './attach.js';
import { ATTACH_TIMEOUT_MS, attachTimeoutError, type BpftraceExit, stopSignal, tracerEnded } from './outcome.js';

export interface TracerOptions {
  probes: ProbeFamily[];
  resolver: NetnsResolver;
  dropReasons: DropReasons;
  onEvent: (event: NatscopeEvent) => void;
  // bpftrace binary (NATSCOPE_BPFTRACE overrides; tests put a fake on PATH)
  bpftrace?: string;
  // how long compile + attach may take (default ATTACH_TIMEOUT_MS)
  readyTimeoutMs?: number;
  // per-CPU perf buffer pages (bpftrace 0.17) / ring buffer pages (0.20+)
  perfPages?: number;
  // events each buffer holds per flush and stream (more in one flush are lost, and counted)
  bufferEvents?: number;
  // events per CPU and second reported whole; the rest are counted in the kernel (0 = all)
  detail?: number;
  // stop() waits at most this long for a flush marker before signalling (default 2000 ms)
  flushWaitMs?: number;
  // keep only events that pass (e.g. events in the lab's namespaces)
  filter?: (event: NatscopeEvent) => boolean;
  // also write bpftrace's own output lines here (how the parser's fixtures are captured)
  rawLog?: string;
}

export type { TracerSummary } from './flush.js';

export interface Tracer {
  pid: number;
  attachMs: number;
  stop(): Promise<TracerSummary>;
  // settles when bpftrace exits, whoever stopped it
  done: Promise<TracerSummary>;
}

// bpftrace prints this once every probe is attached (its BEGIN runs before): on stderr, or on stdout from 0.23
export const ATTACHED = ATTACH_NOTICE;

// Per stream and flush (100 ms): 160,000 events/s per stream before any is lost.
const BUFFER_EVENTS = 16384;
// A flush of 16,384 events prints a line of about 3 MB.
const MAX_LINE_BYTES = 1 << 26;
export function bpftraceBinary(explicit?: string): string {
  return explicit ?? process.env.NATSCOPE_BPFTRACE ?? 'bpftrace';
}

export async function bpftraceVersion(binary = bpftraceBinary()): Promise<string | null> {
  try {
    const { stdout } = await execa(binary, ['--version'], { timeout: 10_000 });
    return /v?(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? stdout.trim();
  } catch {
    return null;
  }
}

// Probes on module functions attach only once the module is loaded. A
// module built into the kernel has nothing to load: its functions are in
// /proc/kallsyms already.
export async function loadModules(probes: ProbeFamily[]): Promise<void> {
  const wanted = [...new Set(probes.flatMap((p) => PROBES[p].modules))];
  const missing = wanted.filter((m) => !existsSync(`/sys/module/${m}`));
  if (missing.length === 0) return;
  const loaded = await execa('modprobe', ['-a', ...missing], { timeout: 30_000, reject: false }).catch(() => null);
  if (loaded?.exitCode === 0) return;
  const kallsyms = await readFile('/proc/kallsyms', 'utf8').catch(() => '');
  const absent = missing.filter((m) => !kallsyms.includes(` ${MODULE_MARKERS[m] ?? m}\n`));
  if (absent.length === 0) return;
  throw new NatscopeError(`cannot load kernel module(s) ${absent.join(', ')} that the probes hook`, {
    hint: `run "modprobe -a ${absent.join(' ')}" as root and check dmesg`,
  });
}

// A function each module defines, to tell a built-in module from a missing one.
const MODULE_MARKERS: Record<string, string> = {
  nf_nat: 'nf_nat_setup_info',
  nf_conntrack: '__nf_conntrack_confirm',
};

export interface BpftraceInvocation {
  args: string[];
  env: Record<string, string>;
}

// The command line and environment of a bpftrace that runs `programPath`: JSON output, the
// detail budget as the program's argument, and every map's size under the name this version reads.
export function bpftraceInvocation(
  programPath: string,
  features: BpftraceFeatures,
  options: Pick<TracerOptions, 'detail' | 'perfPages' | 'bufferEvents'>,
): BpftraceInvocation {
  return {
    args: ['-f', 'json', programPath, detailBudgetArgument(options.detail ?? DEFAULT_DETAIL_PER_SECOND)],
    env: bpftraceEnv(features, {
      attachNotice: ATTACHED,
      perfPages: options.perfPages ?? 1024,
      mapKeys: options.bufferEvents ?? BUFFER_EVENTS,
    }),
  };
}

// A running bpftrace, wherever it runs (here, or on a cluster node through
// kubectl exec): its output, how it ended, and the two ways to end it.
export interface BpftraceProcess {
  pid: number | undefined;
  stdout: Readable | null;
  stderr: Readable | null;
  // settles once it has exited (never rejects)
  result: Promise<BpftraceExit>;
  running(): boolean;
  // asks it to stop in order, printing its exit dump (`attached` false: it is still compiling or attaching)
  stop(attached: boolean): void;
  // ends it at once
  kill(): void;
}

// How a process runner's child ended, as the tracer reads it.
export function exitOf(result: { exitCode?: number; signal?: string; code?: unknown; message?: string }): BpftraceExit {
  return {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    errorCode: typeof result.code === 'string' ? result.code : null,
    message: result.message ?? '',
  };
}

type LocalChild = ResultPromise<{ detached: true; reject: false; buffer: false; stdin: 'ignore' }>;

// A bpftrace started here, in its own process group: stopped with SIGTERM once
// attached, SIGKILL before (it acts on SIGTERM only once attached).
function localProcess(child: LocalChild): BpftraceProcess {
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    result: child.then(exitOf),
    running: () => child.exitCode === null && child.signalCode === null,
    stop: (attached) => killGroup(child, stopSignal(attached)),
    kill: () => killGroup(child, 'SIGKILL'),
  };
}

// Where a followed bpftrace's events go: one at a time, or a flush's at once
// (in the same order; the receiver may keep the array). A receiver that
// does something per call (a merge's clock read, a hop to another process)
// takes batches: a flush holds thousands of events.
export type EventReceiver =
  | { onEvent: (event: NatscopeEvent) => void; onEvents?: undefined }
  | { onEvents: (events: NatscopeEvent[]) => void; onEvent?: undefined };

export type FollowOptions = EventReceiver & {
  probes: ProbeFamily[];
  found: DetectedBpftrace;
  context: ParseContext;
  // keep only events that pass
  filter?: (event: NatscopeEvent) => boolean;
  readyTimeoutMs?: number;
  flushWaitMs?: number;
  rawLog?: string;
  // after each flush: every event still to come happened after this time (bpftrace's clock, nanoseconds)
  onThrough?: (ns: number) => void;
  // after bpftrace has exited and its output is read
  onExit?: () => Promise<void>;
};

export interface FollowedBpftrace {
  // the tracer, once bpftrace has attached its probes
  ready: Promise<Tracer>;
  // stops bpftrace (in order if it can) and waits until it has exited
  halt(): Promise<void>;
}

// bpftrace's stdout, line by line, into the flush (and the raw log); the attach notice of 0.23 to `onNotice`.
async function readOutput(
  bpftrace: BpftraceProcess,
  flush: FlushAssembler,
  options: FollowOptions,
  onNotice: () => void,
): Promise<void> {
  if (!bpftrace.stdout) return;
  const raw = options.rawLog ? createWriteStream(options.rawLog, { flags: 'a' }) : null;
  for await (const item of splitLines(bpftrace.stdout, MAX_LINE_BYTES)) {
    if (raw && 'line' in item) raw.write(`${item.line}\n`);
    if ('tooLong' in item) flush.error(`bpftrace printed a ${item.tooLong}-byte line ${item.lineNo}; skipped`);
    else {
      const record = parseBpftraceLine(item.line, options.context);
      if (record.type === 'attach-notice') onNotice();
      else flush.take(record, item.lineNo, item.line);
    }
  }
  flush.end();
  if (raw) await new Promise<void>((resolve) => raw.end(resolve));
}

// bpftrace 0.17's SIGTERM handler does not restart an interrupted write:
// signalled while blocked writing a flush to a full pipe, its output
// stream fails and drops the rest, the exit dump included. So it is
// signalled just after a flush marker has been read (the pipe is empty,
// the next flush 100 ms away), or after `maxMs` if none comes.
async function nextFlush(bpftrace: BpftraceProcess, flush: FlushAssembler, maxMs: number): Promise<void> {
  const seen = flush.flushes;
  const end = performance.now() + maxMs;
  while (flush.flushes === seen && bpftrace.running() && performance.now() < end) await sleep(10);
}

// Asks it to stop, and kills it if it lingers.
async function stopAndWait(bpftrace: BpftraceProcess, attached: boolean): Promise<void> {
  bpftrace.stop(attached);
  const timer = setTimeout(() => bpftrace.kill(), 5000);
  await bpftrace.result;
  clearTimeout(timer);
}

// setTimeout's largest delay (a signed 32-bit count of milliseconds)
const MAX_TIMER_MS = 2 ** 31 - 1;

// Resolves when `ready` does, or rejects with the attach timeout.
async function attachedWithin<T>(ready: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // a delay past setTimeout's largest (about 24.8 days) would fire at once
    timer = setTimeout(() => reject(attachTimeoutError(timeoutMs)), Math.min(timeoutMs, MAX_TIMER_MS));
  });
  try {
    return await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// Its output into the flush, its attach notice (on stderr up to 0.22, on
// stdout from 0.23) into the watch, resolving `ready`; settles when stdout ends.
function follow(
  bpftrace: BpftraceProcess,
  flush: FlushAssembler,
  watch: AttachWatch,
  ready: Deferred<void>,
  options: FollowOptions,
): Promise<void> {
  bpftrace.stderr?.on('data', (chunk: Buffer) => {
    const { attachedNow, errors } = watch.onStderr(chunk.toString());
    if (attachedNow) ready.resolve();
    for (const error of errors) flush.error(error);
  });
  return readOutput(bpftrace, flush, options, () => {
    watch.onStdoutNotice();
    ready.resolve();
  });
}

// The flush assembler's batches to the receiver, through the filter.
export function deliverTo(options: EventReceiver & Pick<FollowOptions, 'filter'>): (events: NatscopeEvent[]) => void {
  const { filter } = options;
  if (options.onEvents !== undefined) {
    const onEvents = options.onEvents;
    return (events) => {
      const kept = filter ? passing(events, filter) : events;
      if (kept.length > 0) onEvents(kept);
    };
  }
  const onEvent = options.onEvent;
  return (events) => {
    for (const event of events) if (!filter || filter(event)) onEvent(event);
  };
}

// The events that pass, each asked once: the same array when all do (the usual case), without a copy.
function passing(events: NatscopeEvent[], filter: (event: NatscopeEvent) => boolean): NatscopeEvent[] {
  for (let i = 0; i < events.length; i++) {
    if (filter(events[i]!)) continue;
    const kept = events.slice(0, i);
    for (let j = i + 1; j < events.length; j++) if (filter(events[j]!)) kept.push(events[j]!);
    return kept;
  }
  return events;
}

// Reads a running bpftrace's output into events: waits for its attach
// notice, parses every line, assembles flushes and counts loss, and stops it
// in order. The same for a local bpftrace and a remote one.
export function followBpftrace(bpftrace: BpftraceProcess, options: FollowOptions): FollowedBpftrace {
  const started = performance.now();
  const flush = new FlushAssembler(deliverTo(options), options.context.now?.bind(options.context), options.onThrough);
  const watch = new AttachWatch();
  let stopping = false;
  const ready = deferred<void>();
  const reading = follow(bpftrace, flush, watch, ready, options);

  async function stopChild(): Promise<void> {
    if (!bpftrace.running()) return;
    stopping = true;
    flush.stop();
    await stopAndWait(bpftrace, watch.attached);
  }

  const finished = (async (): Promise<TracerSummary> => {
    const exit = await bpftrace.result;
    await reading;
    await options.onExit?.();
    const ending = tracerEnded({
      exit,
      attached: watch.attached,
      stopping,
      bpftrace: options.found,
      stderr: watch.stderr,
      probes: options.probes,
    });
    if (ending && 'startFailed' in ending) ready.reject(ending.startFailed);
    if (ending && 'streamError' in ending) flush.error(ending.streamError);
    return { ...flush.summary(exit.exitCode), signal: exit.signal };
  })();

  const whenReady = (async (): Promise<Tracer> => {
    try {
      await attachedWithin(ready.promise, options.readyTimeoutMs ?? ATTACH_TIMEOUT_MS);
    } catch (error) {
      await stopChild();
      await finished.catch(() => undefined);
      throw error;
    }
    return {
      pid: bpftrace.pid ?? -1,
      attachMs: Math.round(performance.now() - started),
      async stop() {
        if (!stopping) await nextFlush(bpftrace, flush, options.flushWaitMs ?? 2000);
        await stopChild();
        return finished;
      },
      done: finished,
    };
  })();

  return {
    ready: whenReady,
    async halt() {
      await stopChild();
      await finished.catch(() => undefined);
    },
  };
}

export async function startTracer(options: TracerOptions): Promise<Tracer> {
  const binary = bpftraceBinary(options.bpftrace);
  // refuses a bpftrace that is missing or too old; the program is composed for this one
  const found = await detectBpftrace(binary);
  if (needsFunctionProbes(options.probes)) await loadModules(options.probes);
  const program = await composeProgram(options.probes, found.version);
  const dir = await makeRunDir('trace');
  // on every way out, from here: bpftrace stopped (once started) and its program's folder removed
  let running: BpftraceProcess | undefined;
  let followed: FollowedBpftrace | undefined;
  const handle = onCleanup(
    'stop bpftrace',
    async () => {
      await followed?.halt();
      await removeRunDir(dir);
    },
    () => running?.kill(),
  );
  const programPath = join(dir, 'natscope.bt');
  await writeFile(programPath, program);

  try {
    const { args, env } = bpftraceInvocation(programPath, found.features, options);
    // detached: its own process group, so a terminal's Ctrl-C reaches natscope, which stops it in order
    running = localProcess(execa(binary, args, { detached: true, reject: false, buffer: false, stdin: 'ignore', env }));
  } catch (cause) {
    await handle.run();
    throw new NatscopeError(`cannot start bpftrace: ${describeError(cause)}`, { cause });
  }
  followed = followBpftrace(running, {
    probes: options.probes,
    found,
    context: {
      hostOf: (inode: number) => options.resolver.hostOf(inode),
      dropReason: (code: number) => options.dropReasons.name(code),
    },
    onEvent: options.onEvent,
    filter: options.filter,
    readyTimeoutMs: options.readyTimeoutMs,
    flushWaitMs: options.flushWaitMs,
    rawLog: options.rawLog,
    async onExit() {
      await removeRunDir(dir);
      handle.cancel();
    },
  });
  return followed.ready;
}
