// The tracer of a micro-VM lab, parsed on the host. bpftrace runs in the
// guest (started by the guest's agent: src/vm/guestBpftrace.ts) with its
// stdout and stderr on two virtio-serial ports; here each run is split out
// of the ports' byte streams (src/vm/portFrames.ts) and read by the very
// parser, flush assembly and loss counting a local bpftrace gets
// (followBpftrace). The agent in the guest keeps the lab and is asked, over
// its serial port, to start and to signal bpftrace; no byte of bpftrace's
// output passes through it. The shape of src/cluster/transport.ts, with a
// VM's ports where that has kubectl exec.

import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import { describeError, NatscopeError } from '../errors.js';
import type { NatscopeEvent } from '../events/types.js';
import { type BpftraceProcess, type FollowedBpftrace, followBpftrace, type Tracer } from '../tracer/bpftrace.js';
import { dropReasonsFrom } from '../tracer/btf.js';
import { type BpftraceExit, stopSignal } from '../tracer/outcome.js';
import { parseProbeList } from '../tracer/probes.js';
import { featuresOf, parseBpftraceVersion, supportOf, type DetectedBpftrace } from '../tracer/version.js';
import { onCleanup } from '../util/cleanup.js';
import { type Deferred, deferred } from '../util/deferred.js';
import { parseRunEnd, parseRunHeader, PortSplitter, type RunEnd, type RunHeader } from '../vm/portFrames.js';
import type { AgentClient } from './client.js';

// One run of bpftrace in the guest, as its ports deliver it.
export interface GuestRun {
  header: RunHeader;
  stdout: Readable;
  stderr: Readable;
  // once both ports have said how it ended (or the VM went away)
  exit: Promise<BpftraceExit>;
  ended(): boolean;
}

interface RunState {
  header: RunHeader | null;
  stdout: PassThrough;
  stderr: PassThrough;
  outEnd: RunEnd | null | undefined;
  errEnded: boolean;
  exit: Deferred<BpftraceExit>;
  done: boolean;
}

// Splits the trace ports into runs, matched by their nonce.
export class PortRuns {
  private readonly runs = new Map<string, RunState>();
  private readonly begun: GuestRun[] = [];
  private readonly waiting: Deferred<GuestRun>[] = [];
  private closed = false;

  constructor(
    out: Readable,
    err: Readable,
    // what arrived that no run can use (said, not silently dropped)
    private readonly report: (message: string) => void,
  ) {
    this.read(out, 'out');
    this.read(err, 'err');
  }

  // The next run to begin on the ports.
  next(): Promise<GuestRun> {
    const run = this.begun.shift();
    if (run) return Promise.resolve(run);
    if (this.closed) return Promise.reject(new NatscopeError('the micro-VM trace ports have closed'));
    const waiter = deferred<GuestRun>();
    this.waiting.push(waiter);
    return waiter.promise;
  }

  private state(nonce: string): RunState {
    let run = this.runs.get(nonce);
    if (!run) {
      run = {
        header: null,
        stdout: new PassThrough({ highWaterMark: 1 << 20 }),
        stderr: new PassThrough(),
        outEnd: undefined,
        errEnded: false,
        exit: deferred<BpftraceExit>(),
        done: false,
      };
      this.runs.set(nonce, run);
    }
    return run;
  }

  private read(port: Readable, which: 'out' | 'err'): void {
    const splitter = new PortSplitter();
    let current: RunState | null = null;
    port.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        if (frame.kind === 'begin') {
          current = this.state(frame.nonce);
          if (which === 'out') this.begin(current, frame.header);
        } else if (frame.kind === 'data') {
          if (which === 'out') current?.stdout.write(frame.bytes);
          else current?.stderr.write(frame.bytes);
        } else if (frame.kind === 'end') {
          const run = this.runs.get(frame.nonce);
          if (run) this.ended(run, which, frame.trailer);
          current = null;
        } else this.report(`${frame.bytes} bytes on the micro-VM's ${which} trace port outside any run, dropped`);
      }
    });
    port.on('end', () => this.portEnded(which));
    port.on('error', () => this.portEnded(which));
  }

  private begin(run: RunState, text: string): void {
    let header: RunHeader;
    try {
      header = parseRunHeader(text);
    } catch (error) {
      this.report(`a run on the micro-VM trace port has a header natscope cannot read (${describeError(error)})`);
      run.stdout.resume(); // nobody will read it
      return;
    }
    run.header = header;
    const guestRun: GuestRun = {
      header,
      stdout: run.stdout,
      stderr: run.stderr,
      exit: run.exit.promise,
      ended: () => run.done,
    };
    const waiter = this.waiting.shift();
    if (waiter) waiter.resolve(guestRun);
    else this.begun.push(guestRun);
  }

  private ended(run: RunState, which: 'out' | 'err', trailer: string): void {
    if (which === 'out') {
      run.stdout.end();
      try {
        run.outEnd = parseRunEnd(trailer);
      } catch {
        run.outEnd = null;
      }
    } else {
      run.stderr.end();
      run.errEnded = true;
    }
    if (run.outEnd !== undefined && run.errEnded) this.settle(run, run.outEnd);
  }

  private settle(run: RunState, end: RunEnd | null): void {
    if (run.done) return;
    run.done = true;
    for (const [nonce, r] of this.runs) if (r === run) this.runs.delete(nonce);
    run.exit.resolve({
      exitCode: end?.exitCode ?? null,
      signal: end?.signal ?? null,
      errorCode: end ? null : 'EVMGONE',
      message: end ? '' : 'the micro-VM stopped before bpftrace had said how it ended',
    });
  }

  // The VM went away: each port ends the runs still open on it (the other
  // port may still hold their last bytes); no run begins after the stdout port.
  private portEnded(which: 'out' | 'err'): void {
    for (const run of [...this.runs.values()]) {
      if (which === 'out' && run.outEnd === undefined) {
        run.stdout.end();
        run.outEnd = null;
      }
      if (which === 'err' && !run.errEnded) {
        run.stderr.end();
        run.errEnded = true;
      }
      if (run.outEnd !== undefined && run.errEnded) this.settle(run, run.outEnd);
    }
    if (which !== 'out' || this.closed) return;
    this.closed = true;
    for (const waiter of this.waiting.splice(0))
      waiter.reject(new NatscopeError('the micro-VM trace ports closed before bpftrace started'));
  }
}

// The guest's bpftrace as the tracer knows its version.
export function guestBpftrace(header: RunHeader): DetectedBpftrace {
  const version = parseBpftraceVersion(header.bpftrace);
  if (version === null)
    throw new NatscopeError(`the micro-VM's bpftrace reported no version natscope reads (${header.bpftrace})`, {
      hint: 'natscope on both ends must be the same build',
    });
  return { binary: 'bpftrace', version, features: featuresOf(version), support: supportOf(version) };
}

export interface GuestFollowOptions {
  onEvent: (event: NatscopeEvent) => void;
  filter?: (event: NatscopeEvent) => boolean;
  readyTimeoutMs?: number;
  flushWaitMs?: number;
  // the guest bpftrace's pid, when known
  pid?: number;
  // delivers a signal to the guest bpftrace
  signal: (signal: 'SIGTERM' | 'SIGKILL') => void;
  onExit?: () => Promise<void>;
  // the guest's clock (CLOCK_MONOTONIC, as bpftrace's nsecs there), for what the host stamps as it reads
  guestNow?: () => number;
  // also write bpftrace's own output lines here
  rawLog?: string;
}

// A run read by the tracer's own followBpftrace: parse, flush, loss, stop in order.
export function followGuestRun(
  run: GuestRun,
  probes: ReturnType<typeof parseProbeList>,
  options: GuestFollowOptions,
): FollowedBpftrace {
  const hosts = new Map(run.header.hosts);
  const dropReasons = dropReasonsFrom(new Map(run.header.dropReasons), 'the micro-VM kernel');
  const process: BpftraceProcess = {
    pid: options.pid,
    stdout: run.stdout,
    stderr: run.stderr,
    result: run.exit,
    running: () => !run.ended(),
    stop: (attached) => options.signal(stopSignal(attached) === 'SIGTERM' ? 'SIGTERM' : 'SIGKILL'),
    kill: () => options.signal('SIGKILL'),
  };
  return followBpftrace(process, {
    probes,
    found: guestBpftrace(run.header),
    context: {
      hostOf: (inode) => hosts.get(inode) ?? '?',
      dropReason: (code) => dropReasons.name(code),
      now: options.guestNow,
    },
    onEvent: options.onEvent,
    filter: options.filter,
    readyTimeoutMs: options.readyTimeoutMs,
    flushWaitMs: options.flushWaitMs,
    rawLog: options.rawLog,
    onExit: options.onExit,
  });
}

export interface VmTracerOptions {
  probes: string[];
  detail?: number;
  onEvent: (event: NatscopeEvent) => void;
  // every namespace, not only the lab's
  allNetns?: boolean;
  readyTimeoutMs?: number;
  flushWaitMs?: number;
  guestNow?: () => number;
  rawLog?: string;
}

// Asks the guest's agent for bpftrace on the trace ports and follows it
// here: resolves once its probes are attached.
export async function startVmTracer(
  client: AgentClient,
  runs: PortRuns,
  options: VmTracerOptions,
): Promise<Tracer & { guestPid: number }> {
  const probes = parseProbeList(options.probes.join(','));
  const next = runs.next();
  next.catch(() => undefined);
  const { pid } = await client.call({ cmd: 'portTrace', probes, detail: options.detail });
  const signal = (s: 'SIGTERM' | 'SIGKILL') => {
    void client.call({ cmd: 'portSignal', signal: s }).catch(() => undefined);
  };
  let run: GuestRun;
  try {
    run = await next;
  } catch (error) {
    signal('SIGKILL');
    throw error;
  }
  // on every way out: the guest bpftrace stopped in order (or the VM, which ends it, goes)
  const cleanup = onCleanup(
    'stop bpftrace in the micro-VM',
    () => followed.halt(),
    () => signal('SIGKILL'),
  );
  const followed = followGuestRun(run, probes, {
    onEvent: options.onEvent,
    // with a lab, only the lab's namespaces are of interest (as the agent's own tracer)
    filter: options.allNetns ? undefined : (e) => e.host !== '?' && e.host !== 'host',
    readyTimeoutMs: options.readyTimeoutMs,
    flushWaitMs: options.flushWaitMs,
    guestNow: options.guestNow,
    rawLog: options.rawLog,
    pid,
    signal,
    onExit: async () => cleanup.cancel(),
  });
  try {
    return { ...(await followed.ready), guestPid: pid };
  } catch (error) {
    await followed.halt();
    throw error;
  }
}
