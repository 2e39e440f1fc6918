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

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createWriteStream, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { execa, type ResultPromise } from 'execa';
import { NatscopeError, describeError } from '../errors.js';
import type { NatscopeEvent } from '../events/types.js';
import { onCleanup } from '../util/cleanup.js';
import { deferred } from '../util/deferred.js';
import { killGroup } from '../util/process.js';
import { makeRunDir, removeRunDir } from '../util/rundir.js';
import { splitLines } from '../util/lines.js';
import type { DropReasons } from './btf.js';
import { FlushAssembler, type TracerSummary } from './flush.js';
import type { NetnsResolver } from './netns.js';
import { ATTACH_NOTICE, type ParseContext, parseBpftraceLine, type ProbeFamily } from './parse.js';
import { DEFAULT_DETAIL_PER_SECOND, detailBudgetArgument } from './detail.js';
import { PROBES, composeProgram, needsFunctionProbes } from './probes.js';
import { bpftraceEnv, crashError, type DetectedBpftrace, detectBpftrace } from './version.js';

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
// Printed by bpftrace 0.17 on every start when it cannot raise the limit; harmless on modern kernels.
const HARMLESS_STDERR = [
  /couldn't set RLIMIT_MEMLOCK/,
  /is not traceable/,
  /^Attaching \d+ probes?/,
  /available_filter_functions/,
];

// How bpftrace ended, as a user reads it: "exited with code 1", "killed by SIGKILL".
export function exitedHow(exitCode: number | null, signal: string | null): string {
  if (signal) return `killed by ${signal}`;
  return exitCode === null ? 'exited' : `exited with code ${exitCode}`;
}

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
    const budget = detailBudgetArgument(options.detail ?? DEFAULT_DETAIL_PER_SECOND);
    const child = execa(binary, ['-f', 'json', programPath, budget], {
      detached: true, // its own process group: a terminal's Ctrl-C reaches natscope, which stops it in order
      reject: false,
      buffer: false,
      stdin: 'ignore',
      // every map's size under the name this version reads
      env: bpftraceEnv(found.features, {
        attachNotice: ATTACHED,
        perfPages: options.perfPages ?? 1024,
        mapKeys: options.bufferEvents ?? BUFFER_EVENTS,
      }),
    });
    running = localProcess(child);
  } catch (cause) {
    await handle.run();
    throw new NatscopeError(`cannot start bpftrace: ${describeError(cause)}`, { cause });
  }
  followed = followBpftrace(running, {
    ...options,
    found,
    context: {
      hostOf: (inode: number) => options.resolver.hostOf(inode),
      dropReason: (code: number) => options.dropReasons.name(code),
    },
    async onExit() {
      await removeRunDir(dir);
      handle.cancel();
    },
  });
  return followed.ready;
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

export interface BpftraceExit {
  exitCode: number | null;
  signal: string | null;
  // the binary was not found
  notFound: boolean;
  message: string;
}

// A bpftrace started here, in its own process group: stopped with SIGTERM,
// or SIGKILL while it attaches (it would act on SIGTERM only once attached).
function localProcess(child: ResultPromise<{ detached: true; reject: false; buffer: false; stdin: 'ignore' }>) {
  return {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    result: child.then(exitOf),
    running: () => child.exitCode === null && child.signalCode === null,
    stop: (attached: boolean) => killGroup(child.pid, attached ? 'SIGTERM' : 'SIGKILL'),
    kill: () => killGroup(child.pid, 'SIGKILL'),
  } satisfies BpftraceProcess;
}

// How an execa child ended, as followBpftrace reads it.
export function exitOf(result: { exitCode?: number; signal?: string; code?: string; message?: string }): BpftraceExit {
  return {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    notFound: result.code === 'ENOENT',
    message: result.message ?? '',
  };
}

export interface FollowOptions {
  probes: ProbeFamily[];
  found: DetectedBpftrace;
  context: ParseContext;
  onEvent: (event: NatscopeEvent) => void;
  filter?: (event: NatscopeEvent) => boolean;
  readyTimeoutMs?: number;
  flushWaitMs?: number;
  rawLog?: string;
  // after bpftrace has exited and its output is read
  onExit?: () => Promise<void>;
}

export interface FollowedBpftrace {
  // the tracer, once bpftrace has attached its probes
  ready: Promise<Tracer>;
  // stops bpftrace (in order if it can) and waits until it has exited
  halt(): Promise<void>;
}

// Reads a running bpftrace's output into events: waits for its attach
// notice, parses every line, assembles flushes and counts loss, and stops it
// in order. The same for a local bpftrace and a remote one.
export function followBpftrace(bpftrace: BpftraceProcess, options: FollowOptions): FollowedBpftrace {
  const started = performance.now();
  const found = options.found;

  const flush = new FlushAssembler((event) => {
    if (!options.filter || options.filter(event)) options.onEvent(event);
  });
  let stopping = false;
  let stderr = '';
  let attached = false;
  const ready = deferred<void>();
  const onAttached = () => {
    attached = true;
    ready.resolve();
  };

  bpftrace.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    if (stderr.length < 65536) stderr += text;
    if (!attached && text.includes(ATTACHED)) onAttached();
    if (attached) {
      for (const line of text.split('\n')) {
        if (/ERROR/.test(line) && !HARMLESS_STDERR.some((re) => re.test(line))) flush.error(line.trim());
      }
    }
  });

  const context = options.context;
  const raw = options.rawLog ? createWriteStream(options.rawLog, { flags: 'a' }) : null;
  const reading = (async () => {
    if (!bpftrace.stdout) return;
    for await (const item of splitLines(bpftrace.stdout, MAX_LINE_BYTES)) {
      if (raw && 'line' in item) raw.write(`${item.line}\n`);
      if ('tooLong' in item) flush.error(`bpftrace printed a ${item.tooLong}-byte line ${item.lineNo}; skipped`);
      else {
        const record = parseBpftraceLine(item.line, context);
        // bpftrace 0.23 writes its attach notice here, between the JSON lines
        if (record.type === 'attach-notice') onAttached();
        else flush.take(record, item.lineNo, item.line);
      }
    }
    flush.end();
  })();

  // bpftrace 0.17's SIGTERM handler does not restart an interrupted write:
  // signalled while blocked writing a flush to a full pipe, its output
  // stream fails and drops the rest, the exit dump included. So it is
  // signalled just after a flush marker has been read (the pipe is empty,
  // the next flush 100 ms away), or after `maxMs` if none comes.
  async function nextFlush(maxMs: number): Promise<void> {
    const seen = flush.flushes;
    const end = performance.now() + maxMs;
    while (flush.flushes === seen && bpftrace.running() && performance.now() < end) await sleep(10);
  }

  async function stopChild(): Promise<void> {
    if (!bpftrace.running()) return;
    stopping = true;
    flush.stop();
    // still compiling or attaching: nothing to drain, and bpftrace would
    // only act on SIGTERM once attached (seconds): stopped at once
    bpftrace.stop(attached);
    const timer = setTimeout(() => bpftrace.kill(), 5000);
    await bpftrace.result;
    clearTimeout(timer);
  }

  const finished = (async (): Promise<TracerSummary> => {
    const result = await bpftrace.result;
    await reading;
    if (raw) await new Promise<void>((resolve) => raw.end(resolve));
    await options.onExit?.();
    const signal = result.signal;
    if (!attached) {
      const reason = result.notFound
        ? new NatscopeError(`bpftrace not found (${found.binary})`, {
            hint: 'install it: apt-get install bpftrace (npm run setup does this)',
          })
        : (crashError(found, result.signal ?? undefined, result.exitCode ?? undefined) ??
          explainBpftraceFailure(stderr || result.message, options.probes, result.exitCode));
      ready.reject(reason);
    } else if (!stopping) {
      flush.error(`bpftrace stopped on its own: ${exitedHow(result.exitCode, signal)}`);
    }
    return { ...flush.summary(result.exitCode), signal };
  })();

  const whenReady = (async (): Promise<Tracer> => {
    const timeoutMs = options.readyTimeoutMs ?? 90_000;
    const timer = setTimeout(() => {
      ready.reject(
        new NatscopeError(`bpftrace did not attach its probes within ${Math.round(timeoutMs / 1000)} s`, {
          hint: 'a busy or emulated machine compiles slowly: raise --attach-timeout',
        }),
      );
    }, timeoutMs);
    try {
      await ready.promise;
    } catch (error) {
      await stopChild();
      await finished.catch(() => undefined);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return {
      pid: bpftrace.pid ?? -1,
      attachMs: Math.round(performance.now() - started),
      async stop() {
        if (!stopping) await nextFlush(options.flushWaitMs ?? 2000);
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
