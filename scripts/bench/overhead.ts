// Tracing overhead, measured where the probes can attach (run it as root in
// the micro-VM: `natscope vm run -- node dist/scripts/bench/overhead.js`).
// TCP connections per second from the office to the nginx ClusterIP through
// node1's DNAT, with (a) nothing attached, (b) natscope's default probes
// (parsed and correlated, as natscope does; default detail budget: past it
// events are counted in the kernel), (b*) the same with every event
// reported whole (--detail all), (c) `conntrack -E` in node1, (d)
// `tcpdump -w` on node1, and (e) bpftrace attached to the default probes'
// hooks with empty programs: what merely hooking those kernel functions
// costs, the floor under (b). Interleaved rounds; each window follows a
// short unmeasured load with the same tracer attached, so one-off costs
// (bpftrace resolving kernel symbols, V8 compiling the parser: seconds
// under emulation) stay outside it, as they would in a long trace. Emulation speed drifts
// (identical windows a minute apart can differ twofold), so each round's
// ratios are taken against that round's own (a), and the rounds' ratios
// are reported as a median with their range. Then a loss
// experiment: every probe, rewrite included, with event buffers of 64
// events per flush, so that most events are lost: natscope counts them from
// the sequence numbers; bpftrace cannot (a full map drops an update
// silently), and its own count is shown beside.
// Throughput ratios drift with the emulation; where the time goes does not
// as much: each (b) window also accounts the CPU time, per connection, of
// the probes' BPF programs (kernel.bpf_stats_enabled), of bpftrace, and of
// natscope itself, beside the CPU an untraced connection takes in (a).
// (The BPF run-time statistics stay on through every window; they add a
// little to each program run, so (b) is measured slightly pessimistically.)
// Writes one JSON object to the file named by its argument (else stdout).

import { setTimeout as sleep } from 'node:timers/promises';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { bpfProgramsUs, processCpuUs, withBpfStats, withMachineCost } from './cpu.js';
import { withProcess } from './withProcess.js';
import { FlowTracker } from '../../src/events/flows.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { NetnsLab } from '../../src/lab/netns/lab.js';
import { ATTACHED, startTracer, type Tracer } from '../../src/tracer/bpftrace.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { ensureTracefs } from '../../src/tracer/capabilities.js';
import { NetnsResolver } from '../../src/tracer/netns.js';
import { DEFAULT_PROBES, composeProgram } from '../../src/tracer/probes.js';
import { detectBpftrace } from '../../src/tracer/version.js';
import type { ProbeFamily } from '../../src/tracer/parse.js';
import type { LoadResult } from '../../src/lab/lab.js';
import type { OverheadResult, Traced, TracerCost } from './overheadResult.js';

const PREFIX = 'natscope-bench-';
const SECONDS = Number(process.env.NATSCOPE_BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.NATSCOPE_BENCH_ROUNDS ?? 3);
// events per stream and flush in the loss experiment
const LOSSY_BUFFER_EVENTS = 64;
const WARM_UP_SECONDS = 2;
// where the result goes (a folder shared with the host), else stdout
const OUTPUT = process.argv[2];
const log = (line: string) => process.stderr.write(`[overhead] ${line}\n`);

async function tracer(lab: NetnsLab, probes: ProbeFamily[], options: { bufferEvents?: number; detail?: number } = {}) {
  const resolver = new NetnsResolver();
  await lab.registerHosts(resolver);
  const flows = new FlowTracker();
  // one real lost event of each kind of count, for docs/events.md
  const firstLost: Record<string, NatscopeEvent> = {};
  const t: Tracer = await startTracer({
    probes,
    resolver,
    dropReasons: await loadDropReasons(),
    ...options,
    onEvent: (e) => {
      flows.add(e);
      if (e.kind === 'lost') firstLost[e.source] ??= e;
    },
  });
  return { t, firstLost: () => firstLost };
}

async function load(lab: NetnsLab, label: string): Promise<LoadResult> {
  const r = await lab.load('nginx', SECONDS, 4);
  log(`${label}: ${r.rate.toFixed(0)} connections/s (${r.failed} failed)`);
  return r;
}

async function rate(lab: NetnsLab, label: string): Promise<number> {
  return (await load(lab, label)).rate;
}

async function warmUp(lab: NetnsLab): Promise<void> {
  await lab.load('nginx', WARM_UP_SECONDS, 4);
}

// The default probes' attach points with empty programs: bpftrace's own
// program, minus everything the probes do.
async function hooksOnlyProgram(): Promise<string> {
  const composed = await composeProgram(DEFAULT_PROBES, (await detectBpftrace('bpftrace')).version);
  const hooks = [...composed.matchAll(/^((?:kfunc|kretfunc|tracepoint):[\w:]+)$/gm)].map((m) => m[1]!);
  if (hooks.length === 0) throw new Error('no attach points found in the composed program');
  return hooks.map((h) => `${h}\n{\n}\n`).join('\n');
}

async function withHooksOnly(program: string, f: () => Promise<number>): Promise<number> {
  const file = join(tmpdir(), `natscope-hooks-only-${process.pid}.bt`);
  writeFileSync(file, program);
  const child = execa('bpftrace', [file], {
    reject: false,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { [ATTACHED]: '1' },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      // the attach notice: on stderr, or on stdout from bpftrace 0.23
      for (const stream of [child.stderr!, child.stdout!])
        stream.on('data', (d: Buffer) => {
          if (String(d).includes(ATTACHED)) resolve();
        });
      void child.then((r) => reject(new Error(`bpftrace (hooks only) exited: ${String(r.stderr).slice(-300)}`)));
    });
    return await f();
  } finally {
    child.kill('SIGTERM');
    await child;
    rmSync(file, { force: true });
  }
}

type Cost = Record<TracerCost, number>;

// A (b) window with its CPU accounted, per connection.
async function costedRate(lab: NetnsLab, label: string, bpftracePid: number): Promise<{ rate: number; cost: Cost }> {
  // the process counters are read right next to the load; bpftool's own run stays outside them
  const bpf0 = await bpfProgramsUs(bpftracePid);
  const [bpftrace0, natscope0] = [processCpuUs(bpftracePid), process.cpuUsage()];
  const r = await load(lab, label);
  const [bpftrace1, natscope1] = [processCpuUs(bpftracePid), process.cpuUsage()];
  const bpf1 = await bpfProgramsUs(bpftracePid);
  const per = (us: number) => us / r.connections;
  return {
    rate: r.rate,
    cost: {
      bpfUs: per(bpf1 - bpf0),
      bpftraceUs: per(bpftrace1 - bpftrace0),
      natscopeUs: per(natscope1.user + natscope1.system - natscope0.user - natscope0.system),
    },
  };
}

// An (a) window with the machine's CPU time per connection.
// Both vCPUs are busy under this load, so this is close to 2 CPUs over the rate:
// what one connection costs the VM, the yardstick for (b)'s costs.
function untracedRate(lab: NetnsLab, label: string): Promise<{ rate: number; busyUs: number }> {
  return withMachineCost(() => load(lab, label));
}

function costColumns(costs: Cost[]): Record<keyof Cost, number[]> {
  return {
    bpfUs: costs.map((c) => c.bpfUs),
    bpftraceUs: costs.map((c) => c.bpftraceUs),
    natscopeUs: costs.map((c) => c.natscopeUs),
  };
}

async function main(): Promise<void> {
  await ensureTracefs();
  await withBpfStats(measure);
}

async function measure(): Promise<void> {
  const lab = await NetnsLab.up({ prefix: PREFIX, masqueradeAll: false, clusterCIDR: null, log });
  const node1 = `${PREFIX}node1`;
  try {
    // interleaved rounds (a b c d a b c d …)
    const runs: Record<'none' | Traced, number[]> = {
      none: [],
      natscope: [],
      natscopeAll: [],
      conntrackE: [],
      tcpdump: [],
      hooksOnly: [],
    };
    const hooksOnly = await hooksOnlyProgram();
    let events = 0;
    let counted = 0;
    let lost = 0;
    let attachMs = 0;
    const costs: Cost[] = [];
    const costsAll: Cost[] = [];
    const untracedBusyUs: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      await warmUp(lab);
      const untraced = await untracedRate(lab, `(a) nothing attached, round ${round}`);
      runs.none.push(untraced.rate);
      untracedBusyUs.push(untraced.busyUs);
      for (const detail of ['default', 'all'] as const) {
        const started = performance.now();
        const traced = await tracer(lab, DEFAULT_PROBES, detail === 'all' ? { detail: 0 } : {});
        if (detail === 'default') attachMs = performance.now() - started;
        await warmUp(lab);
        const label =
          detail === 'default' ? '(b) natscope default probes' : '(b*) natscope, every event whole (--detail all)';
        const costed = await costedRate(lab, `${label}, round ${round}`, traced.t.pid);
        (detail === 'default' ? runs.natscope : runs.natscopeAll).push(costed.rate);
        (detail === 'default' ? costs : costsAll).push(costed.cost);
        log(
          `${label.slice(0, 4)} CPU per connection: BPF programs ${costed.cost.bpfUs.toFixed(0)} µs, bpftrace ${costed.cost.bpftraceUs.toFixed(0)} µs, natscope ${costed.cost.natscopeUs.toFixed(0)} µs`,
        );
        await sleep(500); // the last flush is printed before the counts are read
        const summary = await traced.t.stop();
        if (detail === 'default') {
          events += summary.received;
          counted += summary.counted;
        }
        lost += summary.lost;
      }
      const warmRate = (label: string) => async () => {
        await warmUp(lab);
        return rate(lab, label);
      };
      runs.conntrackE.push(
        await withProcess(
          ['ip', 'netns', 'exec', node1, 'conntrack', '-E'],
          warmRate(`(c) conntrack -E in node1, round ${round}`),
        ),
      );
      runs.tcpdump.push(
        await withProcess(
          ['ip', 'netns', 'exec', node1, 'tcpdump', '-i', 'any', '-w', '/dev/null'],
          warmRate(`(d) tcpdump -w on node1, round ${round}`),
        ),
      );
      runs.hooksOnly.push(
        await withHooksOnly(hooksOnly, warmRate(`(e) the default probes' hooks, empty programs, round ${round}`)),
      );
    }
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;

    // loss: every probe (rewrite is per packet) with buffers far too small
    const lossy = await tracer(lab, ['nat', 'conntrack', 'drop', 'rewrite'], {
      bufferEvents: LOSSY_BUFFER_EVENTS,
      detail: 0,
    });
    await lab.load('nginx', 5, 4);
    await sleep(500);
    const loss = await lossy.t.stop();

    const result: OverheadResult = {
      seconds: SECONDS,
      rates: {
        none: mean(runs.none),
        natscope: mean(runs.natscope),
        natscopeAll: mean(runs.natscopeAll),
        conntrackE: mean(runs.conntrackE),
        tcpdump: mean(runs.tcpdump),
        hooksOnly: mean(runs.hooksOnly),
      },
      runs,
      // per round, against the same round's (a)
      ratios: {
        natscope: runs.natscope.map((x, i) => x / runs.none[i]!),
        natscopeAll: runs.natscopeAll.map((x, i) => x / runs.none[i]!),
        conntrackE: runs.conntrackE.map((x, i) => x / runs.none[i]!),
        tcpdump: runs.tcpdump.map((x, i) => x / runs.none[i]!),
        hooksOnly: runs.hooksOnly.map((x, i) => x / runs.none[i]!),
      },
      // (b): events reported whole, and events counted in the kernel past the detail budget,
      // over each tracer's whole life (its warm-up load and the window)
      natscopeEvents: events,
      natscopeCounted: counted,
      // CPU µs per connection: an untraced connection's (the whole machine), and the tracer's parts in (b) and (b*)
      cost: { untracedUs: untracedBusyUs, ...costColumns(costs) },
      costAll: costColumns(costsAll),
      natscopeLost: lost,
      attachMs: Math.round(attachMs),
      loss: {
        received: loss.received,
        lost: loss.lost,
        bpftraceReported: loss.lostReportedByBpftrace,
        firstLost: lossy.firstLost(),
      },
    };
    const text = `${JSON.stringify(result)}\n`;
    if (OUTPUT) writeFileSync(OUTPUT, text);
    else process.stdout.write(text);
  } finally {
    await lab.down();
  }
}

main().catch((error) => {
  process.stderr.write(`overhead benchmark failed: ${(error instanceof Error && error.stack) || error}\n`);
  process.exit(1);
});
