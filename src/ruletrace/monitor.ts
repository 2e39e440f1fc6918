// Rule tracing around one piece of work (a lab request): on each host, an
// `nft -a monitor trace` listener and natscope's trace table
// (traceTable.ts); then the work; then everything removed again, on every
// way out (return, error, Ctrl-C: util/cleanup.ts).
//
// Listening is asynchronous (netlink), so a readiness probe brackets the
// work on each host: a ping to READY_ADDRESS, traced by the table's own
// chain. Once a listener has printed the first probe it is listening; once
// it has printed the second, every trace of the work (sent before it) has
// arrived, since netlink delivers a socket's messages in order.

import { spawnSync } from 'node:child_process';
import { type ResultPromise, execa } from 'execa';
import { NatscopeError } from '../errors.js';
import { inNetns } from '../lab/netns/exec.js';
import { onCleanup } from '../util/cleanup.js';
import { splitLines } from '../util/lines.js';
import { killGroup } from '../util/process.js';
import { parseTraceLine, type TraceRecord } from './traceLine.js';
import { READY_ADDRESS, READY_CHAIN, TRACE_TABLE, type TracedFlow, traceTableScript } from './traceTable.js';

export interface TracedHost {
  // the lab's name for it (office, vpn, node1, node2)
  host: string;
  // its network namespace
  ns: string;
}

export interface HostTrace {
  host: string;
  // the trace events on this host, in the order the kernel sent them (the readiness probes' included)
  records: TraceRecord[];
  // lines that were not valid trace lines (counted, not shown)
  skipped: number;
}

// A listener starts in well under a second natively; in the micro-VM
// (emulated, with bpftrace's probes attached, nft read from the 9p root for
// the first time) the first one was measured to need more than 5 s.
const PROBE_WAIT_MS = 20_000;

class Listener {
  readonly records: TraceRecord[] = [];
  skipped = 0;
  // readiness probes seen so far (each one's packet line in the probe chain)
  probes = 0;
  private exited = false;
  private readonly reading: Promise<void>;

  constructor(
    readonly host: TracedHost,
    private readonly child: ResultPromise,
  ) {
    child
      .catch(() => undefined)
      .finally(() => {
        this.exited = true;
      });
    this.reading = this.read();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private async read(): Promise<void> {
    const out = this.child.stdout;
    if (!out) return;
    for await (const item of splitLines(out, 64 * 1024)) {
      if (!('line' in item)) {
        this.skipped++;
        continue;
      }
      const parsed = parseTraceLine(item.line);
      if (!('record' in parsed)) {
        if (item.line.trim() !== '') this.skipped++;
        continue;
      }
      const r = parsed.record;
      if (r.table === TRACE_TABLE && r.chain === READY_CHAIN && r.kind === 'packet') this.probes++;
      this.records.push(r);
    }
  }

  // Pings READY_ADDRESS until one more probe than `seen` has been printed.
  async probe(seen: number): Promise<void> {
    const deadline = performance.now() + PROBE_WAIT_MS;
    while (this.probes <= seen) {
      if (this.exited)
        throw new NatscopeError(`nft monitor trace in ${this.host.ns} ended early`, {
          hint: 'run it yourself to see why: sudo ip netns exec NS nft monitor trace',
        });
      if (performance.now() > deadline)
        throw new NatscopeError(`rule tracing in ${this.host.ns} did not start within ${PROBE_WAIT_MS / 1000} s`, {
          hint: 'is nft 0.9 or newer installed (apt-get install nftables)?',
        });
      await inNetns(this.host.ns, ['ping', '-c', '1', '-W', '1', READY_ADDRESS], { reject: false });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (!this.exited) this.child.kill('SIGTERM');
    await this.child.catch(() => undefined);
    await this.reading.catch(() => undefined);
  }
}

async function removeTable(ns: string): Promise<void> {
  // gone already (a lab taken down meanwhile) is fine
  await inNetns(ns, ['nft', 'delete', 'table', 'ip', TRACE_TABLE], { reject: false });
}

// Runs `work` with the flow traced on these hosts; what each host's rules did with it.
export async function withRuleTracing<T>(
  hosts: TracedHost[],
  flow: TracedFlow,
  work: () => Promise<T>,
): Promise<{ result: T; hosts: HostTrace[] }> {
  const listeners: Listener[] = [];
  const cleanup = onCleanup(
    'remove natscope-trace tables and their listeners',
    async () => {
      await Promise.all(listeners.map((l) => l.stop()));
      await Promise.all(hosts.map((h) => removeTable(h.ns)));
    },
    // natscope exiting with no time for the above (a third Ctrl-C): the same, synchronously
    () => {
      for (const l of listeners) if (l.pid !== undefined) killGroup(l.pid, 'SIGKILL');
      for (const h of hosts)
        spawnSync('ip', ['netns', 'exec', h.ns, 'nft', 'delete', 'table', 'ip', TRACE_TABLE], { stdio: 'ignore' });
    },
  );
  try {
    for (const h of hosts) {
      const child = execa('ip', ['netns', 'exec', h.ns, 'nft', '-a', 'monitor', 'trace'], {
        buffer: false,
        stdin: 'ignore',
        stderr: 'ignore',
        reject: false,
      });
      listeners.push(new Listener(h, child));
    }
    const script = traceTableScript(flow);
    await Promise.all(hosts.map((h) => inNetns(h.ns, ['nft', '-f', '-'], { input: script })));
    await Promise.all(listeners.map((l) => l.probe(0)));
    const result = await work();
    await Promise.all(listeners.map((l) => l.probe(1)));
    await cleanup.run();
    return {
      result,
      hosts: listeners.map((l) => ({ host: l.host.host, records: l.records, skipped: l.skipped })),
    };
  } finally {
    await cleanup.run();
  }
}
