// A host's rule-trace listener, whichever tool it runs (monitor.ts: `nft
// monitor trace`; xtMonitor.ts: tcpdump on the netfilter log): the process
// in the host's namespace, its output read while it runs, the readiness
// probe that says it is listening, and its stop on the way out.

import type { ResultPromise } from 'execa';
import type { Readable } from 'node:stream';
import { NatscopeError } from '../errors.js';
import { killGroup } from '../util/process.js';
import { inNetnsAt } from './netnsPath.js';
import type { TraceRecord } from './traceLine.js';
import { READY_ADDRESS } from './traceTable.js';

export interface TracedHost {
  // the name the rule path gives it (office, vpn, node1, …; a kind node's own name)
  host: string;
  // the path of its network namespace: /run/netns/NAME, /proc/PID/ns/net
  netns: string;
}

// One host's listener, whichever rules it reports.
export interface HostListener {
  readonly host: TracedHost;
  // SIGKILL, synchronously (natscope exiting with no time to stop it in order)
  killNow(): void;
  // resolves once the listener has reported one more readiness probe than `seen`
  probe(seen: number): Promise<void>;
  stop(): Promise<void>;
  // what it heard, as trace records (called after the work, before anything is taken down)
  trace(): Promise<{ records: TraceRecord[]; skipped: number }>;
}

// A listener starts in well under a second natively; in the micro-VM
// (emulated, with bpftrace's probes attached, nft read from the 9p root for
// the first time) the first one was measured to need more than 5 s.
export const PROBE_WAIT_MS = 20_000;

// What listens, how to see why it ended, what to install when it never starts.
export interface ListenerTool {
  ended: string;
  hint: string;
  install: string;
}

export class ListenerProcess {
  private exited = false;
  private readonly reading: Promise<void>;

  constructor(
    private readonly netns: string,
    private readonly child: ResultPromise,
    private readonly tool: ListenerTool,
    consume: (stdout: Readable) => Promise<void>,
  ) {
    child
      .catch(() => undefined)
      .finally(() => {
        this.exited = true;
      });
    this.reading = child.stdout ? consume(child.stdout) : Promise.resolve();
  }

  killNow(): void {
    killGroup(this.child, 'SIGKILL');
  }

  // Pings READY_ADDRESS in the namespace until `probes()` exceeds `seen`;
  // `broken()`: the output cannot be read on (the listener is as good as ended).
  async untilProbed(seen: number, probes: () => number, broken: () => boolean = () => false): Promise<void> {
    const deadline = performance.now() + PROBE_WAIT_MS;
    while (probes() <= seen) {
      if (this.exited || broken())
        throw new NatscopeError(`${this.tool.ended} in ${this.netns} ended early`, { hint: this.tool.hint });
      if (performance.now() > deadline)
        throw new NatscopeError(`rule tracing in ${this.netns} did not start within ${PROBE_WAIT_MS / 1000} s`, {
          hint: this.tool.install,
        });
      await inNetnsAt(this.netns, ['ping', '-c', '1', '-W', '1', READY_ADDRESS], { reject: false });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (!this.exited) this.child.kill('SIGTERM');
    await this.child.catch(() => undefined);
    await this.reading.catch(() => undefined);
  }
}
