// The agent owns the kernel side: a lab, and a tracer when asked. It turns
// commands into lab actions and reports everything as events, so that a
// frontend never needs to know whether the lab is in this process or in a
// micro-VM.

import { release } from 'node:os';
import { NatscopeError } from '../errors.js';
import {
  base,
  isKernelEvent,
  type KernelEvent,
  observationEvent,
  type NatscopeEvent,
  type ObservationBody,
  type ObservationResults,
  type ObservationWhat,
  type StatusEvent,
} from '../events/types.js';
import type { Lab } from '../lab/lab.js';
import { bpftraceVersion, startTracer, type Tracer } from '../tracer/bpftrace.js';
import { loadDropReasons } from '../tracer/btf.js';
import { ensureTracefs, iptablesBackend } from '../tracer/capabilities.js';
import { NetnsResolver, netnsInode } from '../tracer/netns.js';
import { isDetail } from '../tracer/detail.js';
import { parseProbeList } from '../tracer/probes.js';
import { type PortTracer, startBpftraceOnPorts } from '../vm/guestBpftrace.js';
import type { Where } from './placement.js';
import { LeftOut, LoadEvents } from './leftOut.js';
import { type CommandName, type CommandOf, PROTOCOL_REVISION, type Reply, type TraceRequest } from './protocol.js';
import { attachedMessage, ownStopMessage, stoppedMessage } from './tracingStatus.js';

// How often the counts of the lab's load, left out of the stream, go out.
const LEFT_OUT_EVERY_MS = 1000;

export interface AgentOptions {
  lab: Lab | null;
  where: Where;
  emit: (event: NatscopeEvent) => void;
  log?: (line: string) => void;
  attachTimeoutMs?: number;
}

export class Agent {
  private tracer: Tracer | null = null;
  private starting = false;
  private lastPid: number | null = null;
  // kernel events of the load generator's connections: counted, not streamed
  private readonly leftOut = new LeftOut();
  private drainTimer: NodeJS.Timeout | undefined;
  private probes: string[] = [];
  private readonly resolver = new NetnsResolver();
  // bpftrace writing to the micro-VM's trace ports (its parser runs on the host)
  private portTracer: PortTracer | null = null;
  // shutting down: a bpftrace that starts now is stopped at once
  private closing = false;

  constructor(private readonly options: AgentOptions) {}

  // The lab may come up while the tracer attaches (both take seconds in the micro-VM).
  async setLab(lab: Lab): Promise<void> {
    this.options.lab = lab;
    await lab.registerHosts(this.resolver);
  }

  get where(): Where {
    return this.options.where;
  }

  private get lab(): Lab {
    if (!this.options.lab) throw new NatscopeError('no lab is up', { hint: 'sudo natscope lab up' });
    return this.options.lab;
  }

  async statusEvent(state: StatusEvent['state'], message: string | null = null): Promise<StatusEvent> {
    return {
      ...base('status', 'natscope', 0),
      state,
      where: this.options.where,
      kernel: release(),
      bpftrace: await bpftraceVersion(),
      probes: this.probes,
      lab: this.options.lab ? await this.options.lab.status() : null,
      message,
    };
  }

  // Announces the lab and its kube-proxy options: a recording starts with these.
  async announce(): Promise<void> {
    if (this.options.lab) await this.emitConfig(null);
    this.options.emit(await this.statusEvent(this.tracer ? 'tracing' : 'ready'));
  }

  private async emitConfig(change: string | null): Promise<void> {
    const status = await this.lab.status();
    this.options.emit({
      ...base('config', 'natscope', 0),
      kubeProxy: status.kubeProxy,
      backend: await iptablesBackend(),
      change,
    });
  }

  // Each command's handler, typed by the protocol: what it takes, what it answers.
  private readonly handlers: { [K in CommandName]: (command: CommandOf<K>) => Promise<Reply<K>> } = {
    status: async () => ({
      lab: this.options.lab ? await this.lab.status() : null,
      where: this.options.where,
      probes: this.probes,
      loadSources: this.options.lab?.loadSources() ?? [],
      protocol: PROTOCOL_REVISION,
    }),
    request: async (command) => {
      const event = await this.lab.request(command.target, command.timeoutMs);
      this.options.emit(event);
      return event;
    },
    ping: async (command) => this.observe('ping', command.target, await this.lab.ping(command.target)),
    // streamed as a request is (the request event), with the rule path as an
    // observation after it: a recording holds the ruleTrace's answer
    ruleTrace: async (command) => {
      const traced = await this.lab.ruleTrace(command.target, command.timeoutMs, (request) =>
        this.options.emit(request),
      );
      this.observe('rulePath', command.target, traced.rulePath);
      return traced;
    },
    set: async (command) => {
      const sync = await this.lab.setKubeProxy(command);
      const change =
        command.masqueradeAll !== undefined
          ? `masqueradeAll=${command.masqueradeAll}`
          : `clusterCIDR=${command.clusterCIDR ?? 'none'}`;
      await this.emitConfig(change);
      return sync;
    },
    rules: async (command) => this.observe('rules', command.node, await this.lab.rules(command.node)),
    routes: async (command) => this.observe('routes', command.host, await this.lab.routes(command.host)),
    conntrack: async (command) => this.observe('conntrack', command.node, await this.lab.conntrack(command.node)),
    drops: async () => this.observe('drops', 'vpn', { vpnDrops: await this.lab.vpnDrops() }),
    load: async (command) => {
      const before = this.leftOut.total;
      const result = await this.lab.load(command.target, command.seconds, command.workers);
      const tracedEventsSoFar = this.leftOut.total - before;
      this.drainLeftOut();
      return this.observe('load', command.target, { ...result, tracedEventsSoFar });
    },
    trace: (command) => this.startTracing(command),
    untrace: () => this.stopTracing(),
    portTrace: (command) => this.startPortTracing(command.probes, command.detail),
    portSignal: async (command) => {
      this.portTracer?.signal(command.signal);
      return { signalled: this.portTracer !== null };
    },
    shutdown: async (command) => {
      await this.shutdown(Boolean(command.labDown));
      return { stopped: true };
    },
  };

  handle<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>> {
    const handler: (command: CommandOf<K>) => Promise<Reply<K>> = this.handlers[command.cmd];
    return handler(command);
  }

  // Emits what a lab command showed as an observation event, and returns it.
  private observe<W extends ObservationWhat>(
    what: W,
    subject: string,
    result: ObservationResults[W],
  ): ObservationResults[W] {
    const host = what === 'rules' || what === 'conntrack' || what === 'routes' ? subject : 'office';
    // one member of the union for this W (TypeScript does not narrow a generic W by itself)
    this.options.emit(observationEvent({ what, subject, result } as ObservationBody, host));
    return result;
  }

  async startTracing(request: TraceRequest, announce = true): Promise<{ attachMs: number; probes: string[] }> {
    // claimed before the first await: two clients asking at once get one tracer
    if (this.tracer || this.starting)
      throw new NatscopeError(`already tracing ${this.probes.join(',') || '(attaching)'}`, {
        hint: 'stop it first (untrace)',
      });
    const probes = parseProbeList(request.probes.join(','));
    // from a client of the protocol, not only from the CLI
    if (request.detail !== undefined && !isDetail(request.detail)) {
      throw new NatscopeError(`detail ${JSON.stringify(request.detail)} is not a number of events per CPU and second`, {
        hint: 'give a whole number ≥ 1, or 0 for every event',
        exitCode: 2,
      });
    }
    // one parser per micro-VM tracer, on the host (src/agent/hostTraced.ts): the guest runs bpftrace alone
    if (this.options.where === 'micro-vm')
      throw new NatscopeError("in the micro-VM, bpftrace's output is parsed on the host", {
        hint: 'start bpftrace there with portTrace',
      });
    this.starting = true;
    try {
      await ensureTracefs();
      const resolver = this.resolver;
      // the host's own namespace, so its events can be told apart (and left out)
      resolver.register(await netnsInode('/proc/1/ns/net').catch(() => 0), 'host');
      if (this.options.lab) await this.options.lab.registerHosts(resolver);
      this.options.log?.(`attaching probes ${probes.join(',')} (bpftrace compiles and attaches: seconds)`);
      const tracer = await startTracer({
        probes,
        resolver,
        dropReasons: await loadDropReasons(),
        onEvent: (e) => {
          if (isKernelEvent(e) && this.fromLoad(e)) this.leftOut.add(e);
          else this.options.emit(e);
        },
        // with a lab, only the lab's namespaces are of interest (unless asked for all)
        filter: request.allNetns ? undefined : (e) => e.host !== '?' && e.host !== 'host',
        readyTimeoutMs: request.attachTimeoutMs ?? this.options.attachTimeoutMs,
        detail: request.detail,
        rawLog: request.rawLog,
      });
      this.tracer = tracer;
      this.lastPid = tracer.pid;
      // the load's counts go out as they gather, a second apart
      this.drainTimer = setInterval(() => this.drainLeftOut(), LEFT_OUT_EVERY_MS);
      this.drainTimer.unref();
      this.probes = probes;
      void tracer.done.then(async (summary) => {
        if (this.tracer !== tracer) return; // stopped on purpose
        this.tracer = null;
        this.probes = [];
        this.options.emit(await this.statusEvent('stopped', ownStopMessage(summary)));
      });
      if (announce) this.options.emit(await this.statusEvent('tracing', attachedMessage(tracer.attachMs)));
      return { attachMs: tracer.attachMs, probes };
    } finally {
      this.starting = false;
    }
  }

  // In the micro-VM: bpftrace alone, its output on the trace ports, the
  // namespaces it will report named in the run's header. The host parses.
  private async startPortTracing(list: string[], detail: number | undefined): Promise<{ pid: number }> {
    if (this.tracer || this.starting || this.portTracer)
      throw new NatscopeError('already tracing', { hint: 'stop it first (portSignal SIGTERM)' });
    const probes = parseProbeList(list.join(','));
    if (detail !== undefined && !isDetail(detail)) {
      throw new NatscopeError(`detail ${JSON.stringify(detail)} is not a number of events per CPU and second`, {
        hint: 'give a whole number ≥ 1, or 0 for every event',
        exitCode: 2,
      });
    }
    this.starting = true;
    try {
      await ensureTracefs();
      this.resolver.register(await netnsInode('/proc/1/ns/net').catch(() => 0), 'host');
      if (this.options.lab) await this.options.lab.registerHosts(this.resolver);
      this.options.log?.(`attaching probes ${probes.join(',')} (bpftrace compiles and attaches: seconds)`);
      const tracer = await startBpftraceOnPorts({ probes, detail, hosts: this.resolver.entries() });
      this.portTracer = tracer;
      // started while the agent was shutting down (a Ctrl-C while it compiled)
      if (this.closing) tracer.signal('SIGKILL');
      void tracer.done.then(() => {
        if (this.portTracer === tracer) this.portTracer = null;
      });
      return { pid: tracer.pid };
    } finally {
      this.starting = false;
    }
  }

  get tracing(): boolean {
    return this.tracer !== null;
  }

  // the last bpftrace this agent started (to prove it is gone)
  get lastTracerPid(): number | null {
    return this.lastPid;
  }

  // the lab's load generator's events, told apart from the rest (src/agent/leftOut.ts)
  private readonly loadEvents = new LoadEvents();

  private fromLoad(e: KernelEvent): boolean {
    return this.loadEvents.isLoad(e, this.options.lab?.loadSources() ?? []);
  }

  private drainLeftOut(): void {
    for (const counted of this.leftOut.drain()) this.options.emit(counted);
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
    this.options.emit(await this.statusEvent('ready', stoppedMessage(summary, loadLeftOut)));
    return { ...summary, loadLeftOut };
  }

  async shutdown(labDown: boolean): Promise<void> {
    this.closing = true;
    await this.stopTracing();
    // the host stops the run it follows in order (SIGTERM, the exit dump read) before it
    // shuts the agent down: one still here is attaching, or was left, so it goes at once
    this.portTracer?.signal('SIGKILL');
    await this.portTracer?.done;
    if (labDown && this.options.lab) await this.options.lab.down();
  }
}
