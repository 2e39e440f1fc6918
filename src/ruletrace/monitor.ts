// Rule tracing around one piece of work (a lab request): on each host (a
// network namespace reachable by a path: netnsPath.ts), a listener and
// natscope's trace table (traceTable.ts); then the work; then everything
// removed again, on every way out (return, error, Ctrl-C: util/cleanup.ts).
// The listener is `nft -a monitor trace` where kube-proxy's rules are
// nftables rules (nftables mode, or iptables-nft), and the kernel's
// netfilter log of legacy iptables' xt TRACE where they are iptables-legacy
// rules (xtMonitor.ts).
//
// Listening is asynchronous (netlink), so a readiness probe brackets the
// work on each host: a ping to READY_ADDRESS, traced by the table's own
// chain. Once a listener has reported the first probe it is listening; once
// it has reported the second, every trace of the work (sent before it) has
// arrived, since netlink delivers a socket's messages in order.

import type { ResultPromise } from 'execa';
import { NatscopeError } from '../errors.js';
import { onCleanup } from '../util/cleanup.js';
import { splitLines } from '../util/lines.js';
import { killGroup } from '../util/process.js';
import { inNetnsAt, inNetnsAtSync, spawnInNetnsAt } from './netnsPath.js';
import { parseTraceLine, type TraceRecord } from './traceLine.js';
import { READY_ADDRESS, READY_CHAIN, TRACE_TABLE, type TracedFlow, traceTableScript } from './traceTable.js';
import { XtListener, XtLogging } from './xtMonitor.js';

// The rules a trace reads: nftables rules (kube-proxy's nftables mode, or
// iptables-nft) or iptables-legacy ones.
export type TracedRules = 'nftables' | 'iptables-legacy';

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
export const PROBE_WAIT_MS = 20_000;

// One host's listener, whichever rules it reports.
export interface HostListener {
  readonly host: TracedHost;
  readonly pid: number | undefined;
  // resolves once the listener has reported one more readiness probe than `seen`
  probe(seen: number): Promise<void>;
  stop(): Promise<void>;
  // what it heard, as trace records (called after the work, before anything is taken down)
  trace(): Promise<{ records: TraceRecord[]; skipped: number }>;
}

// Pings READY_ADDRESS in `netns` until `probes()` exceeds `seen`.
export async function pingUntilProbed(
  netns: string,
  seen: number,
  probes: () => number,
  exited: () => boolean,
  // what listens, how to see why it ended, what to install when it never starts
  tool: { ended: string; hint: string; install: string },
): Promise<void> {
  const deadline = performance.now() + PROBE_WAIT_MS;
  while (probes() <= seen) {
    if (exited()) throw new NatscopeError(`${tool.ended} in ${netns} ended early`, { hint: tool.hint });
    if (performance.now() > deadline)
      throw new NatscopeError(`rule tracing in ${netns} did not start within ${PROBE_WAIT_MS / 1000} s`, {
        hint: tool.install,
      });
    await inNetnsAt(netns, ['ping', '-c', '1', '-W', '1', READY_ADDRESS], { reject: false });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

class NftListener implements HostListener {
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

  probe(seen: number): Promise<void> {
    return pingUntilProbed(
      this.host.netns,
      seen,
      () => this.probes,
      () => this.exited,
      {
        ended: 'nft monitor trace',
        hint: `run it yourself to see why: sudo nsenter --net=${this.host.netns} nft monitor trace`,
        install: 'is nft 0.9 or newer installed (apt-get install nftables)?',
      },
    );
  }

  async trace(): Promise<{ records: TraceRecord[]; skipped: number }> {
    return { records: this.records, skipped: this.skipped };
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

// Runs `work` with the flow traced on these hosts; what each host's rules
// did with it. `rules`: where kube-proxy's rules are (nftables rules, which
// nftrace reports, or iptables-legacy rules, which xt TRACE logs).
export async function withRuleTracing<T>(
  hosts: TracedHost[],
  flow: TracedFlow,
  work: () => Promise<T>,
  rules: TracedRules = 'nftables',
): Promise<{ result: T; hosts: HostTrace[] }> {
  const listeners: HostListener[] = [];
  const xt = rules === 'iptables-legacy' ? new XtLogging(hosts) : null;
  const cleanup = onCleanup(
    'remove natscope-trace tables and their listeners',
    async () => {
      await Promise.all(listeners.map((l) => l.stop()));
      await Promise.all(hosts.map((h) => removeTable(h.netns)));
      await xt?.restore();
    },
    // natscope exiting with no time for the above (a third Ctrl-C): the same, synchronously
    () => {
      for (const l of listeners) if (l.pid !== undefined) killGroup(l.pid, 'SIGKILL');
      for (const h of hosts) inNetnsAtSync(h.netns, DELETE_TABLE);
      xt?.restoreSync();
    },
  );
  try {
    if (xt) {
      await xt.prepare();
      for (const h of hosts) listeners.push(new XtListener(h));
    } else
      for (const h of hosts)
        listeners.push(new NftListener(h, spawnInNetnsAt(h.netns, ['nft', '-a', 'monitor', 'trace'])));
    const script = traceTableScript(flow);
    await allDone(hosts.map((h) => inNetnsAt(h.netns, ['nft', '-f', '-'], { input: script })));
    await allDone(listeners.map((l) => l.probe(0)));
    const result = await work();
    await allDone(listeners.map((l) => l.probe(1)));
    const traces = await Promise.all(listeners.map(async (l) => ({ host: l.host.host, ...(await l.trace()) })));
    await cleanup.run();
    return { result, hosts: traces };
  } finally {
    await cleanup.run();
  }
}
