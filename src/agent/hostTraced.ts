// A micro-VM's agent as a frontend reaches it, with its tracer's parser on
// this host. The agent in the guest keeps the lab and runs bpftrace alone,
// whose output comes through the VM's trace ports (src/agent/vmTracer.ts);
// this client answers the tracer's commands (trace, untrace) here, and
// passes every other command to the guest. What the agent's own tracer
// does around its parser is done here, the same way: the status events
// (tracing, attach time, stopped), the lab-only filter, the load's events
// left out of the stream and counted (src/agent/leftOut.ts), the summary
// with its loss, and an ordered stop on every way out.
//
// The load's window. The load's events are told apart by the load
// generator's addresses (the guest's agent names them in its status reply),
// not by time, so a load event is left out whenever it arrives. What a
// `load` command reports as traced so far is what the host left out between
// sending the command and its answer, plus the tail still in transit: the
// guest's bpftrace prints every 100 ms and the port takes a moment more, so
// the count is taken once no load event has arrived for a few flushes
// (bounded, since a dropped load's SYN-ACKs can go on being retransmitted).
// The agent's own observation of the load (counted by a guest that does not
// parse: none) is held back and sent with the host's count.

import { NatscopeError } from '../errors.js';
import {
  base,
  isKernelEvent,
  monotonicNs,
  type NatscopeEvent,
  type ObservationEvent,
  observationEvent,
  type StatusEvent,
} from '../events/types.js';
import type { Tracer } from '../tracer/bpftrace.js';
import { VM_ATTACH_TIMEOUT_MS } from '../tracer/outcome.js';
import { parseProbeList } from '../tracer/probes.js';
import type { AgentClient, EventListener } from './client.js';
import { LeftOut, LoadEvents } from './leftOut.js';
import type { CommandName, CommandOf, Reply, TraceRequest } from './protocol.js';
import { attachedMessage, ownStopMessage, stoppedMessage } from './tracingStatus.js';
import { type PortRuns, startVmTracer } from './vmTracer.js';

// How often the counts of the lab's load, left out of the stream, go out (as the agent's).
const LEFT_OUT_EVERY_MS = 1000;
// A load's tail has arrived once none of its events has for this long (three flushes) …
const LOAD_QUIET_MS = 300;
// … or this long after the load's answer, whichever comes first.
const LOAD_TAIL_MAX_MS = 3000;

export interface HostTracedOptions {
  // how long bpftrace may take to attach in the guest (default VM_ATTACH_TIMEOUT_MS)
  attachTimeoutMs?: number;
}

type LoadObservation = Extract<ObservationEvent, { what: 'load' }>;

export class HostTracedClient implements AgentClient {
  readonly where = 'micro-vm' as const;
  private readonly listeners = new Set<EventListener>();
  private tracer: Tracer | null = null;
  private starting = false;
  private probes: string[] = [];
  private leftOut = new LeftOut();
  private readonly loadEvents = new LoadEvents();
  private loadSources: string[] = [];
  private lastLoadEventAt = 0;
  private drainTimer: NodeJS.Timeout | undefined;
  // loads under way, and the agent's observations of them held back
  private loadsRunning = 0;
  private readonly heldLoads: LoadObservation[] = [];
  // the guest's latest status (its kernel and bpftrace), and its clock against this host's
  private guestStatus: StatusEvent | null = null;
  private guestClockOffset = 0;
  private lastGuestPid: number | null = null;

  private readonly runs: PortRuns;

  // `openRuns`: the VM's trace ports, split into runs (tracePortRuns), told
  // where to report what arrives outside any run
  constructor(
    private readonly guest: AgentClient,
    openRuns: (report: (message: string) => void) => PortRuns,
    private readonly options: HostTracedOptions = {},
  ) {
    guest.onEvent((e) => this.fromGuest(e));
    this.runs = openRuns((message) =>
      this.emit({ ...base('error', 'natscope', 0, this.guestNow()), message, source: 'transport' }),
    );
  }

  // The guest's clock now (CLOCK_MONOTONIC there, the clock of its kernel
  // events), from the stamp of the agent's latest event: off by the serial
  // port's delay, a few milliseconds.
  guestNow(): number {
    return monotonicNs() + this.guestClockOffset;
  }

  get tracing(): boolean {
    return this.tracer !== null;
  }

  // the pid of the last bpftrace started in the guest
  get lastTracerPid(): number | null {
    return this.lastGuestPid;
  }

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: NatscopeEvent): void {
    for (const l of this.listeners) l(e);
  }

  private fromGuest(e: NatscopeEvent): void {
    // the agent stamps these as it sends them (kernel events carry the kernel's time of the event)
    if (!isKernelEvent(e) && e.kind !== 'counted' && e.kind !== 'lost') this.guestClockOffset = e.t - monotonicNs();
    if (e.kind === 'status') this.guestStatus = e;
    if (e.kind === 'observation' && e.what === 'load' && this.loadsRunning > 0) {
      this.heldLoads.push(e);
      return;
    }
    this.emit(e);
  }

  private fromTracer(e: NatscopeEvent): void {
    if (isKernelEvent(e) && this.loadEvents.isLoad(e, this.loadSources)) {
      this.leftOut.add(e);
      this.lastLoadEventAt = performance.now();
    } else this.emit(e);
  }

  private drainLeftOut(): void {
    for (const counted of this.leftOut.drain()) this.emit(counted);
  }

  private status(state: StatusEvent['state'], message: string, lab?: StatusEvent['lab']): StatusEvent {
    return {
      ...base('status', 'natscope', 0, this.guestNow()),
      state,
      where: 'micro-vm',
      kernel: this.guestStatus?.kernel ?? null,
      bpftrace: this.guestStatus?.bpftrace ?? null,
      probes: this.probes,
      lab: lab === undefined ? (this.guestStatus?.lab ?? null) : lab,
      message,
    };
  }

  // The tracer's commands, answered here; the rest go to the guest's agent.
  private readonly own: { [K in CommandName]?: (command: CommandOf<K>) => Promise<Reply<K>> } = {
    trace: (command) => this.startTracing(command),
    untrace: () => this.stopTracing(),
    load: (command) => this.load(command),
    status: async () => ({ ...(await this.guest.call({ cmd: 'status' })), probes: this.probes }),
    shutdown: async (command) => {
      await this.stopTracing();
      return this.guest.call(command);
    },
  };

  call<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>> {
    const own: ((command: CommandOf<K>) => Promise<Reply<K>>) | undefined = this.own[command.cmd];
    return own ? own(command) : this.guest.call(command);
  }

  async startTracing(request: TraceRequest): Promise<Reply<'trace'>> {
    // claimed before the first await: two clients asking at once get one tracer
    if (this.tracer || this.starting)
      throw new NatscopeError(`already tracing ${this.probes.join(',') || '(attaching)'}`, {
        hint: 'stop it first (untrace)',
      });
    const probes = parseProbeList(request.probes.join(','));
    this.starting = true;
    try {
      const { lab, loadSources } = await this.guest.call({ cmd: 'status' });
      this.loadSources = loadSources;
      this.leftOut = new LeftOut();
      const tracer = await startVmTracer(this.guest, this.runs, {
        probes,
        detail: request.detail,
        // without a lab every namespace is of interest
        allNetns: request.allNetns || lab === null,
        rawLog: request.rawLog,
        readyTimeoutMs: request.attachTimeoutMs ?? this.options.attachTimeoutMs ?? VM_ATTACH_TIMEOUT_MS,
        guestNow: () => this.guestNow(),
        onEvent: (e) => this.fromTracer(e),
      });
      this.tracer = tracer;
      this.lastGuestPid = tracer.guestPid;
      this.probes = probes;
      this.drainTimer = setInterval(() => this.drainLeftOut(), LEFT_OUT_EVERY_MS);
      this.drainTimer.unref();
      void tracer.done.then((summary) => {
        if (this.tracer !== tracer) return; // stopped on purpose
        this.tracer = null;
        clearInterval(this.drainTimer);
        this.drainLeftOut();
        this.probes = [];
        this.emit(this.status('stopped', ownStopMessage(summary)));
      });
      this.emit(this.status('tracing', attachedMessage(tracer.attachMs), lab));
      return { attachMs: tracer.attachMs, probes };
    } finally {
      this.starting = false;
    }
  }

  // What the stopped tracer saw, and how much of the lab's load was left
  // out of the stream (counted); null if no tracer was running.
  async stopTracing(): Promise<Reply<'untrace'>> {
    const tracer = this.tracer;
    if (!tracer) return null;
    this.tracer = null;
    const summary = await tracer.stop();
    clearInterval(this.drainTimer);
    this.drainLeftOut();
    this.probes = [];
    const loadLeftOut = this.leftOut.total;
    this.emit(this.status('ready', stoppedMessage(summary, loadLeftOut)));
    return { ...summary, loadLeftOut };
  }

  // The load, run by the guest's agent; what of it the host left out meanwhile (see the top).
  private async load(command: CommandOf<'load'>): Promise<Reply<'load'>> {
    if (!this.tracer) return this.guest.call(command);
    const before = this.leftOut.total;
    this.loadsRunning++;
    try {
      const result = await this.guest.call(command);
      const answered = performance.now();
      for (;;) {
        const now = performance.now();
        if (now - Math.max(answered, this.lastLoadEventAt) >= LOAD_QUIET_MS || now - answered >= LOAD_TAIL_MAX_MS)
          break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const counted = { ...result, tracedEventsSoFar: this.leftOut.total - before };
      this.drainLeftOut();
      const held = this.heldLoads.shift();
      this.emit(
        held
          ? { ...held, result: counted }
          : {
              ...observationEvent({ what: 'load', subject: command.target, result: counted }, 'office'),
              t: this.guestNow(),
            },
      );
      return counted;
    } finally {
      this.loadsRunning--;
    }
  }

  // Stops the tracer in order (its exit dump read), then lets the guest go.
  async close(): Promise<void> {
    await this.stopTracing().catch(() => undefined);
    await this.guest.close();
  }
}
