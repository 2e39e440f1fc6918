// Listening to legacy iptables' rule tracing (xt TRACE) on a host. The
// kernel logs each xtables rule a traced packet meets through the logger of
// the packet's network namespace (nf_log_trace). By default that logger is
// the kernel log, which shows another namespace's lines only when the
// machine-wide net.netfilter.nf_log_all_netns is set, and names no
// namespace. So, in each traced namespace only, natscope sets the logger to
// nfnetlink_log (`net.netfilter.nf_log.2`, a setting of that namespace) and
// reads the log there with `tcpdump -i nflog:0` (nflog.ts); the namespace's
// own setting is put back on every way out. It also makes sure each host
// has a raw table, the first table a packet meets: that is where each
// traced packet's log starts (xtTrace.ts).

import { execa } from 'execa';
import { NatscopeError } from '../errors.js';
import type { Readable } from 'node:stream';
import { type HostListener, ListenerProcess, type TracedHost } from './listener.js';
import { inNetnsAt, inNetnsAtSync, spawnInNetnsAt } from './netnsPath.js';
import { type NflogRecord, NflogReader } from './nflog.js';
import { READY_ADDRESS } from './traceTable.js';
import type { TraceRecord } from './traceLine.js';
import { parseSave, xtChainPrefix, xtRecords } from './xtTrace.js';

// the IPv4 logger of a namespace (NFPROTO_IPV4 is 2)
export const NF_LOG_IPV4 = 'net.netfilter.nf_log.2';
export const NFNETLINK_LOG = 'nfnetlink_log';
// what the setting may hold: a logger's name, or NONE
const LOGGER = /^(NONE|[a-z0-9_]{1,32})$/;

// where a traced packet's log starts when it is sent from the host (readiness probes are)
const PROBE_LOG = xtChainPrefix('raw', 'OUTPUT');

export const XT_LISTEN = ['tcpdump', '-i', 'nflog:0', '--immediate-mode', '-U', '-w', '-'];

async function loggerOf(netns: string): Promise<string> {
  const r = await inNetnsAt(netns, ['sysctl', '-n', NF_LOG_IPV4]);
  const value = String(r.stdout).trim();
  if (!LOGGER.test(value))
    throw new NatscopeError(`${NF_LOG_IPV4} in ${netns} holds "${value.slice(0, 40)}", not a logger's name`);
  return value;
}

// the argv that sets a namespace's logger (run in that namespace)
function setLogger(value: string): string[] {
  return ['sysctl', '-q', '-w', `${NF_LOG_IPV4}=${value}`];
}

// The hosts' loggers: set to nfnetlink_log for the trace, then put back.
export class XtLogging {
  // each host's logger before the trace, once it was changed
  private readonly before = new Map<string, string>();

  constructor(private readonly hosts: TracedHost[]) {}

  async prepare(): Promise<void> {
    // a module where the kernel has it as one (a built-in logger needs nothing: modprobe's failure is fine)
    await execa('modprobe', ['-q', NFNETLINK_LOG], { reject: false, stdin: 'ignore' });
    for (const h of this.hosts) {
      const value = await loggerOf(h.netns);
      const set = await inNetnsAt(h.netns, setLogger(NFNETLINK_LOG), { reject: false });
      if (set.exitCode !== 0)
        throw new NatscopeError(`cannot set ${NF_LOG_IPV4} to ${NFNETLINK_LOG} in ${h.netns}`, {
          hint: "legacy rule tracing needs the kernel's nfnetlink_log (CONFIG_NETFILTER_NETLINK_LOG)",
        });
      this.before.set(h.netns, value);
      // reading the raw table makes the kernel set it up in this namespace (an empty one accepts everything)
      await inNetnsAt(h.netns, ['iptables-legacy', '-w', '10', '-t', 'raw', '-S']);
    }
  }

  async restore(): Promise<void> {
    const back = [...this.before];
    this.before.clear();
    // a lab taken down meanwhile has no namespace to put back
    await Promise.all(back.map(([netns, value]) => inNetnsAt(netns, setLogger(value), { reject: false })));
  }

  restoreSync(): void {
    for (const [netns, value] of this.before) inNetnsAtSync(netns, setLogger(value));
    this.before.clear();
  }
}

// One host's xt TRACE log, read while the work runs.
export class XtListener implements HostListener {
  private readonly logged: NflogRecord[] = [];
  private readonly reader = new NflogReader((r) => this.heard(r));
  private probes = 0;
  private readonly process: ListenerProcess;

  constructor(readonly host: TracedHost) {
    this.process = new ListenerProcess(
      host.netns,
      spawnInNetnsAt(host.netns, XT_LISTEN, { encoding: 'buffer' }),
      {
        ended: 'tcpdump -i nflog:0',
        hint: `is tcpdump installed (apt-get install tcpdump)? Run it yourself to see why: sudo nsenter --net=${host.netns} ${XT_LISTEN.slice(0, 3).join(' ')}`,
        install: 'is tcpdump installed (apt-get install tcpdump)?',
      },
      (out) => this.read(out),
    );
  }

  killNow(): void {
    this.process.killNow();
  }

  private heard(r: NflogRecord): void {
    // a readiness probe's first log: the raw table's, where the probe is sent
    if (r.prefix.startsWith(PROBE_LOG) && r.packet?.daddr === READY_ADDRESS) this.probes++;
    this.logged.push(r);
  }

  private async read(out: Readable): Promise<void> {
    for await (const chunk of out) if (Buffer.isBuffer(chunk)) this.reader.push(chunk);
  }

  probe(seen: number): Promise<void> {
    // a stream that is not NFLOG is as good as an ended listener
    return this.process.untilProbed(
      seen,
      () => this.probes,
      () => this.reader.error !== null,
    );
  }

  async trace(): Promise<{ records: TraceRecord[]; skipped: number }> {
    const save = await inNetnsAt(this.host.netns, ['iptables-legacy-save']);
    const { records, skipped } = xtRecords(this.logged, parseSave(String(save.stdout)));
    return { records, skipped: skipped + this.reader.skipped };
  }

  stop(): Promise<void> {
    return this.process.stop();
  }
}
