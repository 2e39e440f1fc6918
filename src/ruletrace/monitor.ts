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

import type { Readable } from 'node:stream';
import { onCleanup } from '../util/cleanup.js';
import { splitLines } from '../util/lines.js';
import { type HostListener, ListenerProcess, type TracedHost } from './listener.js';
import { inNetnsAt, inNetnsAtSync, spawnInNetnsAt } from './netnsPath.js';
import { parseTraceLine, type TraceRecord } from './traceLine.js';
import { READY_CHAIN, TRACE_TABLE, type TracedFlow, traceTableScript } from './traceTable.js';
import { XtListener, XtLogging } from './xtMonitor.js';

// The rules a trace reads: nftables rules (kube-proxy's nftables mode, or
// iptables-nft) or iptables-legacy ones.
export type TracedRules = 'nftables' | 'iptables-legacy';

export interface HostTrace {
  host: string;
  // the trace events on this host, in the order the kernel sent them (the readiness probes' included)
  records: TraceRecord[];
  // lines that were not valid trace lines (counted, not shown)
  skipped: number;
}

class NftListener implements HostListener {
  private readonly records: TraceRecord[] = [];
  private skipped = 0;
  // readiness probes seen so far (each one's packet line in the probe chain)
  private probes = 0;
  private readonly process: ListenerProcess;

  constructor(readonly host: TracedHost) {
    this.process = new ListenerProcess(
      host.netns,
      spawnInNetnsAt(host.netns, ['nft', '-a', 'monitor', 'trace']),
      {
        ended: 'nft monitor trace',
        hint: `run it yourself to see why: sudo nsenter --net=${host.netns} nft monitor trace`,
        install: 'is nft 0.9 or newer installed (apt-get install nftables)?',
      },
      (out) => this.read(out),
    );
  }

  killNow(): void {
    this.process.killNow();
  }

  private async read(out: Readable): Promise<void> {
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
    return this.process.untilProbed(seen, () => this.probes);
  }

  async trace(): Promise<{ records: TraceRecord[]; skipped: number }> {
    return { records: this.records, skipped: this.skipped };
  }

  stop(): Promise<void> {
    return this.process.stop();
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
      for (const l of listeners) l.killNow();
      for (const h of hosts) inNetnsAtSync(h.netns, DELETE_TABLE);
      xt?.restoreSync();
    },
  );
  try {
    if (xt) {
      await xt.prepare();
      for (const h of hosts) listeners.push(new XtListener(h));
    } else for (const h of hosts) listeners.push(new NftListener(h));
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
