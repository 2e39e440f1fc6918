// Rule tracing around one piece of work (a lab request): on each host (a
// network namespace reachable by a path: netnsPath.ts), an
// `nft -a monitor trace` listener and natscope's trace table
// (traceTable.ts); then the work; then everything removed again, on every
// way out (return, error, Ctrl-C: util/cleanup.ts).
//
// Listening is asynchronous (netlink), so a readiness probe brackets the
// work on each host: a ping to READY_ADDRESS, traced by the table's own
// chain. Once a listener has printed the first probe it is listening; once
// it has printed the second, every trace of the work (sent before it) has
// arrived, since netlink delivers a socket's messages in order.

import type { ResultPromise } from 'execa';
import { NatscopeError } from '../errors.js';
import { onCleanup } from '../util/cleanup.js';
import { splitLines } from '../util/lines.js';
import { killGroup } from '../util/process.js';
import { inNetnsAt, inNetnsAtSync, spawnInNetnsAt } from './netnsPath.js';
import { parseTraceLine, type TraceRecord } from './traceLine.js';
import { READY_ADDRESS, READY_CHAIN, TRACE_TABLE, type TracedFlow, traceTableScript } from './traceTable.js';

export interface TracedHost {
  // the name the rule path gives it (office, vpn, node1, …; a kind node's own name)
  host: string;
  // the path of its network namespace: /run/netns/NAME, /proc/PID/ns/net
  netns: string;
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
        throw new NatscopeError(`nft monitor trace in ${this.host.netns} ended early`, {
          hint: `run it yourself to see why: sudo nsenter --net=${this.host.netns} nft monitor trace`,
        });
      if (performance.now() > deadline)
        throw new NatscopeError(`rule tracing in ${this.host.netns} did not start within ${PROBE_WAIT_MS / 1000} s`, {
          hint: 'is nft 0.9 or newer installed (apt-get install nftables)?',
        });
      await inNetnsAt(this.host.netns, ['ping', '-c', '1', '-W', '1', READY_ADDRESS], { reject: false });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (!this.exited) this.child.kill('SIGTERM');
    await this.child.catch(() => undefined);
    await this.reading.catch(() => undefined);
  }
}

const DELETE_TABLE = ['nft', 'delete', 'table', 'ip', TRACE_TABLE];

async function removeTable(netns: string): Promise<void> {
  // gone already (a lab taken down meanwhile) is fine
  await inNetnsAt(netns, DELETE_TABLE, { reject: false });
}

// Like Promise.all, but settles only when every one has: a table still being
// loaded on one host when another fails would otherwise outlive the cleanup.
async function allDone(work: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
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
      await Promise.all(hosts.map((h) => removeTable(h.netns)));
    },
    // natscope exiting with no time for the above (a third Ctrl-C): the same, synchronously
    () => {
      for (const l of listeners) if (l.pid !== undefined) killGroup(l.pid, 'SIGKILL');
      for (const h of hosts) inNetnsAtSync(h.netns, DELETE_TABLE);
    },
  );
  try {
    for (const h of hosts) listeners.push(new Listener(h, spawnInNetnsAt(h.netns, ['nft', '-a', 'monitor', 'trace'])));
    const script = traceTableScript(flow);
    await allDone(hosts.map((h) => inNetnsAt(h.netns, ['nft', '-f', '-'], { input: script })));
    await allDone(listeners.map((l) => l.probe(0)));
    const result = await work();
    await allDone(listeners.map((l) => l.probe(1)));
    await cleanup.run();
    return {
      result,
      hosts: listeners.map((l) => ({ host: l.host.host, records: l.records, skipped: l.skipped })),
    };
  } finally {
    await cleanup.run();
  }
}
