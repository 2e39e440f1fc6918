// The guest half of the host-parser overhead benchmark (scripts/bench/hostParser.ts
// boots the micro-VM with this as its command and the trace ports attached).
// In one boot, interleaved rounds of TCP connections/s from the office to
// the nginx ClusterIP through node1's DNAT: (a) nothing attached, (b)
// natscope's default probes with bpftrace alone in the guest and its output
// on the trace ports, parsed on the host, (g) the same probes with natscope's
// parser here in the guest (as before the ports), (c) `conntrack -E` in node1.
// Each window follows a short unmeasured load with the same tracer attached.
// Per (b) window it accounts, per connection, the guest CPU of the probes'
// BPF programs (kernel.bpf_stats_enabled) and of bpftrace; the host accounts
// its own parser's CPU between the window marks this prints on stdout.
// The host says on stdin when (b)'s probes have attached (only it reads
// bpftrace's output). Writes one JSON object to the file named by its argument.

import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowTracker } from '../../src/events/flows.js';
import { NetnsLab } from '../../src/lab/netns/lab.js';
import { startTracer } from '../../src/tracer/bpftrace.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { ensureTracefs } from '../../src/tracer/capabilities.js';
import { NetnsResolver, netnsInode } from '../../src/tracer/netns.js';
import { DEFAULT_PROBES } from '../../src/tracer/probes.js';
import { splitLines } from '../../src/util/lines.js';
import { startBpftraceOnPorts } from '../../src/vm/guestBpftrace.js';
import { bpfProgramsUs, processCpuUs, withBpfStats, withMachineCost } from './cpu.js';
import { withProcess } from './withProcess.js';

const PREFIX = 'natscope-bench-';
const SECONDS = Number(process.env.NATSCOPE_BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.NATSCOPE_BENCH_ROUNDS ?? 5);
// (g), the parser in the guest, for comparison in the same boot (NATSCOPE_BENCH_GUEST_PARSER=0 leaves it out)
const GUEST_PARSER = process.env.NATSCOPE_BENCH_GUEST_PARSER !== '0';
const WARM_UP_SECONDS = 2;
const OUTPUT = process.argv[2];
const log = (line: string) => process.stderr.write(`[host-parser] ${line}\n`);
// a mark for the host, on the command's stdout
const mark = (fields: Record<string, string | number>) => process.stdout.write(`${JSON.stringify(fields)}\n`);

// The host's lines on stdin ("attached"), one at a time.
const fromHost = splitLines(process.stdin, 4096)[Symbol.asyncIterator]();
async function hostSays(word: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the host did not say "${word}" within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    for (;;) {
      const next = await Promise.race([fromHost.next(), timeout]);
      if (next.done) throw new Error('the host closed stdin');
      if ('line' in next.value && next.value.line.trim() === word) return;
    }
  } finally {
    clearTimeout(timer);
  }
}

async function rate(lab: NetnsLab, label: string): Promise<number> {
  const r = await lab.load('nginx', SECONDS, 4);
  log(`${label}: ${r.rate.toFixed(0)} connections/s (${r.failed} failed)`);
  return r.rate;
}

const warmUp = (lab: NetnsLab) => lab.load('nginx', WARM_UP_SECONDS, 4);

interface PortWindow {
  rate: number;
  bpfUs: number;
  bpftraceUs: number;
  connections: number;
}

// (b): bpftrace alone here, its output on the ports; the host parses it and says when it has attached.
async function portWindow(lab: NetnsLab, hosts: [number, string][], round: number): Promise<PortWindow> {
  const label = `(b) default probes, parser on the host, round ${round}`;
  mark({ mark: 'attaching', round });
  const tracer = await startBpftraceOnPorts({ probes: DEFAULT_PROBES, hosts });
  try {
    await hostSays('attached', 180_000);
    await warmUp(lab);
    const bpf0 = await bpfProgramsUs(tracer.pid);
    const bpftrace0 = processCpuUs(tracer.pid);
    mark({ mark: 'start', round });
    const r = await lab.load('nginx', SECONDS, 4);
    mark({ mark: 'end', round, connections: r.connections });
    const bpftrace1 = processCpuUs(tracer.pid);
    const bpf1 = await bpfProgramsUs(tracer.pid);
    log(`${label}: ${r.rate.toFixed(0)} connections/s (${r.failed} failed)`);
    const per = (us: number) => us / r.connections;
    return {
      rate: r.rate,
      bpfUs: per(bpf1 - bpf0),
      bpftraceUs: per(bpftrace1 - bpftrace0),
      connections: r.connections,
    };
  } finally {
    await sleep(500); // the last flush is printed before it stops
    tracer.signal('SIGTERM');
    const kill = setTimeout(() => tracer.signal('SIGKILL'), 5000);
    await tracer.done;
    clearTimeout(kill);
  }
}

// (g): natscope's parser here in the guest, as the agent's own tracer runs it.
async function guestParserWindow(lab: NetnsLab, resolver: NetnsResolver, round: number) {
  const flows = new FlowTracker();
  const t = await startTracer({
    probes: DEFAULT_PROBES,
    resolver,
    dropReasons: await loadDropReasons(),
    onEvent: (e) => flows.add(e),
  });
  try {
    await warmUp(lab);
    const bpftrace0 = processCpuUs(t.pid);
    const own0 = process.cpuUsage();
    const r = await lab.load('nginx', SECONDS, 4);
    const own1 = process.cpuUsage();
    const bpftrace1 = processCpuUs(t.pid);
    log(`(g) default probes, parser in the guest, round ${round}: ${r.rate.toFixed(0)} connections/s`);
    const per = (us: number) => us / r.connections;
    return {
      rate: r.rate,
      bpftraceUs: per(bpftrace1 - bpftrace0),
      natscopeUs: per(own1.user + own1.system - own0.user - own0.system),
    };
  } finally {
    await sleep(500);
    await t.stop();
  }
}

async function measure(): Promise<void> {
  const lab = await NetnsLab.up({ prefix: PREFIX, masqueradeAll: false, clusterCIDR: null, log });
  try {
    const resolver = new NetnsResolver();
    resolver.register(await netnsInode('/proc/1/ns/net'), 'host');
    await lab.registerHosts(resolver);
    const runs = { none: [] as number[], ports: [] as number[], guest: [] as number[], conntrackE: [] as number[] };
    const untracedUs: number[] = [];
    const ports: PortWindow[] = [];
    const guest: { bpftraceUs: number; natscopeUs: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await warmUp(lab);
      const untraced = await withMachineCost(() => lab.load('nginx', SECONDS, 4));
      log(`(a) nothing attached, round ${round}: ${untraced.rate.toFixed(0)} connections/s`);
      runs.none.push(untraced.rate);
      untracedUs.push(untraced.busyUs);
      const w = await portWindow(lab, resolver.entries(), round);
      runs.ports.push(w.rate);
      ports.push(w);
      if (GUEST_PARSER) {
        const g = await guestParserWindow(lab, resolver, round);
        runs.guest.push(g.rate);
        guest.push(g);
      }
      runs.conntrackE.push(
        await withProcess(['ip', 'netns', 'exec', `${PREFIX}node1`, 'conntrack', '-E'], async () => {
          await warmUp(lab);
          return rate(lab, `(c) conntrack -E in node1, round ${round}`);
        }),
      );
    }
    const ratios = (xs: number[]) => xs.map((x, i) => x / runs.none[i]!);
    const result = {
      seconds: SECONDS,
      runs,
      ratios: { ports: ratios(runs.ports), guest: ratios(runs.guest), conntrackE: ratios(runs.conntrackE) },
      untracedUs,
      ports,
      guest,
    };
    if (OUTPUT) writeFileSync(OUTPUT, `${JSON.stringify(result)}\n`);
    mark({ mark: 'done' });
  } finally {
    await lab.down();
  }
}

async function main(): Promise<void> {
  await ensureTracefs();
  await withBpfStats(measure);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`host-parser benchmark (guest) failed: ${(error instanceof Error && error.stack) || error}\n`);
  process.exit(1);
});
