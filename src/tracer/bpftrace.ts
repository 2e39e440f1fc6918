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

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWriteStream, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { NatscopeError } from '../errors.js';
import { base, type CountedEvent, type NatscopeEvent } from '../events/types.js';
import { onCleanup } from '../util/cleanup.js';
import { killGroup } from '../util/process.js';
import { splitLines } from '../util/lines.js';
import type { DropReasons } from './btf.js';
import { LossCounter } from './loss.js';
import type { NetnsResolver } from './netns.js';
import { ATTACH_NOTICE, parseBpftraceLine, type ProbeEvent, type ProbeFamily, type StreamName } from './parse.js';
import { DEFAULT_DETAIL_PER_SECOND } from './detail.js';
import { PROBES, composeProgram, detailBudgetArgument, needsFunctionProbes } from './probes.js';
import { bpftraceEnv, crashError, detectBpftrace } from './version.js';

export interface TracerOptions {
  probes: ProbeFamily[];
  resolver: NetnsResolver;
  dropReasons: DropReasons;
  onEvent: (event: NatscopeEvent) => void;
  // bpftrace binary (NATSCOPE_BPFTRACE overrides; tests put a fake on PATH)
  bpftrace?: string;
  // compile + attach can take 30 s under emulation
  readyTimeoutMs?: number;
  // per-CPU perf buffer pages (bpftrace 0.17) / ring buffer pages (0.20+)
  perfPages?: number;
  // events each buffer holds per flush and stream (more in one flush are lost, and counted)
  bufferEvents?: number;
  // events per CPU and second reported whole; the rest are counted in the kernel (0 = all)
  detailPerSecond?: number;
  // stop() waits at most this long for a flush marker before signalling (default 2000 ms)
  flushWaitMs?: number;
  // keep only events that pass (e.g. events in the lab's namespaces)
  filter?: (event: NatscopeEvent) => boolean;
  // also write bpftrace's own output lines here (how the parser's fixtures are captured)
  rawLog?: string;
}

export interface TracerSummary {
  exitCode: number | null;
  received: number;
  lost: number;
  lostReportedByBpftrace: number;
  // events past the detail budget, counted in the kernel instead of reported
  counted: number;
  perProbe: { probe: string; received: number; lost: number }[];
}

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
// Printed by bpftrace 0.17 on every start when it cannot raise the limit; harmless on modern kernels.
const HARMLESS_STDERR = [
  /couldn't set RLIMIT_MEMLOCK/,
  /is not traceable/,
  /^Attaching \d+ probes?/,
  /available_filter_functions/,
];

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

export function explainBpftraceFailure(stderr: string, probes: ProbeFamily[], exitCode: number | null): NatscopeError {
  const errors = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /ERROR/.test(l) && !HARMLESS_STDERR.some((re) => re.test(l)));
  const first =
    errors[0]?.replace(/^ERROR:\s*/, '') ?? (stderr.trim().split('\n').pop() || `exited with code ${exitCode}`);
  if (
    /only supports running as the root user/i.test(stderr) ||
    (/Permission denied|Operation not permitted/i.test(stderr) && process.getuid?.() !== 0)
  ) {
    return new NatscopeError(`bpftrace needs root: ${first}`, { hint: 'run natscope with sudo' });
  }
  if (
    /Error attaching probe: '(kprobe|kfunc|kretfunc)|kprobe_events|cannot attach kprobe|kfunc\/kretfunc not available/i.test(
      stderr,
    )
  ) {
    return new NatscopeError(`the kernel refused a function probe: ${first}`, {
      hint: needsFunctionProbes(probes)
        ? 'this kernel cannot attach kernel function probes (lockdown, or no BTF trampolines; see "natscope doctor"): use --vm to trace in the micro-VM, or --probes drop (tracepoints only)'
        : 'see "natscope doctor"',
    });
  }
  if (/tracepoint not found/i.test(stderr)) {
    return new NatscopeError(`a tracepoint is missing: ${first}`, {
      hint: 'mount tracefs: mount -t tracefs nodev /sys/kernel/tracing',
    });
  }
  return new NatscopeError(`bpftrace failed: ${first}`, { hint: 'run "natscope doctor" to check this machine' });
}

export async function startTracer(options: TracerOptions): Promise<Tracer> {
  const binary = bpftraceBinary(options.bpftrace);
  // refuses a bpftrace that is missing or too old; the program is composed for this one
  const bpftrace = await detectBpftrace(binary);
  if (needsFunctionProbes(options.probes)) await loadModules(options.probes);
  const program = await composeProgram(options.probes, bpftrace.version);
  const dir = await mkdtemp(join(tmpdir(), 'natscope-trace-'));
  const programPath = join(dir, 'natscope.bt');
  await writeFile(programPath, program);

  const started = performance.now();
  let child: ResultPromise<{ detached: true; reject: false; buffer: false; stdin: 'ignore' }>;
  try {
    const budget = detailBudgetArgument(options.detailPerSecond ?? DEFAULT_DETAIL_PER_SECOND);
    child = execa(binary, ['-f', 'json', programPath, budget], {
      detached: true, // its own process group: a terminal's Ctrl-C reaches natscope, which stops it in order
      reject: false,
      buffer: false,
      stdin: 'ignore',
      // every map's size under the name this version reads
      env: bpftraceEnv(bpftrace.features, {
        attachNotice: ATTACHED,
        perfPages: options.perfPages ?? 1024,
        mapKeys: options.bufferEvents ?? BUFFER_EVENTS,
      }),
    });
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw new NatscopeError(`cannot start bpftrace: ${(cause as Error).message}`, { cause });
  }

  const loss = new LossCounter();
  let lostByBpftrace = 0;
  let stopping = false;
  let exiting = false; // bpftrace printed its exit blank lines: map dumps that follow are final
  const finalSequences = new Map<string, { probe: ProbeFamily; stream: StreamName; perCpu: Map<number, number> }>();
  // the events of the flush being read, until its marker, and its counts
  const flushing: ProbeEvent[] = [];
  const counted: CountedEvent[] = [];
  let countedTotal = 0;
  // count maps printed since the last flush marker: if bpftrace stops before
  // the marker, their clears may not have run, and the exit dump would show
  // the same counts again (events are told apart by their sequence numbers;
  // counts cannot be, so the second copy is left out: at worst the counts
  // of a probe that raced the flip are missed)
  const countsSinceMarker = new Set<string>();
  let flushes = 0;
  let stderr = '';
  let attached = false;
  let garbageReported = 0;

  const emit = (event: NatscopeEvent) => {
    if (!options.filter || options.filter(event)) options.onEvent(event);
  };
  const emitError = (message: string) => emit({ ...base('error', 'natscope', 0), message, source: 'bpftrace' });

  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  const onAttached = () => {
    attached = true;
    readyResolve();
  };

  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    if (stderr.length < 65536) stderr += text;
    if (!attached && text.includes(ATTACHED)) onAttached();
    if (attached) {
      for (const line of text.split('\n')) {
        if (/ERROR/.test(line) && !HARMLESS_STDERR.some((re) => re.test(line))) emitError(line.trim());
      }
    }
  });

  const context = {
    hostOf: (inode: number) => options.resolver.hostOf(inode),
    dropReason: (code: number) => options.dropReasons.name(code),
  };
  const raw = options.rawLog ? createWriteStream(options.rawLog, { flags: 'a' }) : null;
  // A flush's buffers are printed one probe after the other: its events go
  // out in time order, each counted once (a buffer printed before bpftrace
  // stopped, and again in its exit dump because the clear never ran, is
  // seen twice). The counts of events past the detail budget follow.
  const release = () => {
    flushing.sort((a, b) => a.event.t - b.event.t);
    for (const { probe, stream, cpu, seq, event } of flushing) {
      const gap = loss.observe(probe, stream, cpu, seq);
      if (gap === null) continue;
      if (gap > 0) emit({ ...base('lost', 'natscope', 0, event.t), probe, count: gap, source: 'sequence' });
      emit(event);
    }
    flushing.length = 0;
    for (const event of counted) {
      countedTotal += event.count;
      emit(event);
    }
    counted.length = 0;
  };
  const reading = (async () => {
    if (!child.stdout) return;
    for await (const item of splitLines(child.stdout, MAX_LINE_BYTES)) {
      if (raw && 'line' in item) raw.write(`${item.line}\n`);
      if ('tooLong' in item) {
        emitError(`bpftrace printed a ${item.tooLong}-byte line ${item.lineNo}; skipped`);
        continue;
      }
      const record = parseBpftraceLine(item.line, context);
      switch (record.type) {
        case 'batch':
          for (const e of record.events) flushing.push(e);
          break;
        case 'counted':
          if (exiting && countsSinceMarker.has(record.map)) break;
          if (!exiting) countsSinceMarker.add(record.map);
          for (const e of record.events) counted.push(e);
          break;
        case 'attach-notice': // bpftrace 0.23 writes it here
          if (!attached) onAttached();
          break;
        case 'flush':
          release();
          countsSinceMarker.clear();
          flushes++;
          break;
        case 'sequence':
          if (exiting) finalSequences.set(record.stream, record);
          break;
        case 'lost':
          lostByBpftrace += record.count;
          emit({ ...base('lost', 'natscope', 0), probe: 'all', count: record.count, source: 'bpftrace' });
          break;
        case 'blank':
          release();
          if (stopping) exiting = true;
          break;
        case 'garbage':
          if (garbageReported++ < 20)
            emitError(
              `unexpected bpftrace output on line ${item.lineNo} (${record.reason}): ${item.line.slice(0, 120)}`,
            );
          break;
        default:
          break;
      }
    }
    release(); // the exit dump has no marker
  })();

  const handle = onCleanup(
    'stop bpftrace',
    () => stopChild(),
    () => killGroup(child.pid, 'SIGKILL'),
  );

  // bpftrace 0.17's SIGTERM handler does not restart an interrupted write:
  // signalled while blocked writing a flush to a full pipe, its output
  // stream fails and drops the rest, the exit dump included. So it is
  // signalled just after a flush marker has been read (the pipe is empty,
  // the next flush 100 ms away), or after `maxMs` if none comes.
  async function nextFlush(maxMs: number): Promise<void> {
    const seen = flushes;
    const end = performance.now() + maxMs;
    while (flushes === seen && child.exitCode === null && child.signalCode === null && performance.now() < end)
      await sleep(10);
  }

  async function stopChild(): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    stopping = true;
    killGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 5000);
    await child;
    clearTimeout(timer);
  }

  const done = (async (): Promise<TracerSummary> => {
    const result = await child;
    await reading;
    if (raw) await new Promise<void>((resolve) => raw.end(resolve));
    handle.cancel();
    await rm(dir, { recursive: true, force: true });
    for (const { probe, stream, perCpu } of finalSequences.values()) {
      const tail = loss.settle(probe, stream, perCpu);
      if (tail > 0) emit({ ...base('lost', 'natscope', 0), probe, count: tail, source: 'sequence' });
    }
    if (!attached) {
      const reason =
        result.failed && (result as { code?: string }).code === 'ENOENT'
          ? new NatscopeError(`bpftrace not found (${binary})`, {
              hint: 'install it: apt-get install bpftrace (npm run setup does this)',
            })
          : (crashError(bpftrace, result.signal, result.exitCode) ??
            explainBpftraceFailure(
              stderr || String((result as { message?: string }).message ?? ''),
              options.probes,
              result.exitCode ?? null,
            ));
      readyReject(reason);
    } else if (!stopping) {
      emitError(`bpftrace exited on its own (code ${result.exitCode ?? result.signal})`);
    }
    return {
      exitCode: result.exitCode ?? null,
      received: loss.received(),
      lost: loss.lost(),
      lostReportedByBpftrace: lostByBpftrace,
      counted: countedTotal,
      perProbe: loss.summary(),
    };
  })();

  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  const timer = setTimeout(() => {
    readyReject(
      new NatscopeError(`bpftrace did not attach its probes within ${Math.round(timeoutMs / 1000)} s`, {
        hint: 'a busy or emulated machine compiles slowly: raise --attach-timeout',
      }),
    );
  }, timeoutMs);
  try {
    await ready;
  } catch (error) {
    await stopChild();
    await done.catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid ?? -1,
    attachMs: Math.round(performance.now() - started),
    async stop() {
      if (!stopping) await nextFlush(options.flushWaitMs ?? 2000);
      await stopChild();
      return done;
    },
    done,
  };
}
