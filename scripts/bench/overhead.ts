// Tracing overhead, measured where the probes can attach (run it as root in
// the micro-VM: `natscope vm run -- node dist/scripts/bench/overhead.js`).
// TCP connections per second from the office to the nginx ClusterIP through
// node1's DNAT, with (a) nothing attached, (b) natscope's default probes
// (parsed and correlated, as natscope does), (c) `conntrack -E` in node1,
// (d) `tcpdump -w` on node1, in interleaved rounds. Emulation speed drifts
// (identical windows a minute apart can differ twofold), so each round's
// ratios are taken against that round's own (a), and the rounds' ratios
// are reported as a median with their range. Then a loss
// experiment: every probe, rewrite included, with tiny perf buffers, to
// compare natscope's exact loss count with bpftrace's own.
// Prints one JSON object on stdout.

import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { FlowTracker } from '../../src/events/flows.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { NetnsLab } from '../../src/lab/netns/lab.js';
import { startTracer, type Tracer } from '../../src/tracer/bpftrace.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { ensureTracefs } from '../../src/tracer/capabilities.js';
import { NetnsResolver } from '../../src/tracer/netns.js';
import { DEFAULT_PROBES } from '../../src/tracer/probes.js';
import type { ProbeFamily } from '../../src/tracer/parse.js';

const PREFIX = 'natscope-bench-';
const SECONDS = Number(process.env.NATSCOPE_BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.NATSCOPE_BENCH_ROUNDS ?? 3);
const log = (line: string) => process.stderr.write(`[overhead] ${line}\n`);

async function tracer(lab: NetnsLab, probes: ProbeFamily[], perfPages?: number) {
  const resolver = new NetnsResolver();
  await lab.registerHosts(resolver);
  const flows = new FlowTracker();
  let events = 0;
  // one real lost event of each kind of count, for docs/events.md
  const firstLost: Record<string, NatscopeEvent> = {};
  const t: Tracer = await startTracer({
    probes,
    resolver,
    dropReasons: await loadDropReasons(),
    perfPages,
    onEvent: (e) => {
      events++;
      flows.add(e);
      if (e.kind === 'lost') firstLost[e.source] ??= e;
    },
  });
  return { t, count: () => events, firstLost: () => firstLost };
}

async function rate(lab: NetnsLab, label: string): Promise<number> {
  const r = await lab.load('nginx', SECONDS, 4);
  log(`${label}: ${r.rate.toFixed(0)} connections/s (${r.failed} failed)`);
  return r.rate;
}

async function withProcess(argv: string[], f: () => Promise<number>): Promise<number> {
  const child = execa(argv[0]!, argv.slice(1), { reject: false, stdout: 'ignore', stderr: 'ignore' });
  await sleep(1500); // let it open its sockets
  try {
    return await f();
  } finally {
    child.kill('SIGTERM');
    await child;
  }
}

async function main(): Promise<void> {
  await ensureTracefs();
  const lab = await NetnsLab.up({ prefix: PREFIX, masqueradeAll: false, clusterCIDR: null, log });
  const node1 = `${PREFIX}node1`;
  try {
    // interleaved rounds (a b c d a b c d …)
    const runs: Record<'none' | 'natscope' | 'conntrackE' | 'tcpdump', number[]> = { none: [], natscope: [], conntrackE: [], tcpdump: [] };
    let events = 0;
    let lost = 0;
    let attachMs = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      runs.none.push(await rate(lab, `(a) nothing attached, round ${round}`));
      const started = performance.now();
      const traced = await tracer(lab, DEFAULT_PROBES);
      attachMs = performance.now() - started;
      runs.natscope.push(await rate(lab, `(b) natscope default probes, round ${round}`));
      await sleep(2000); // the backlog drains before the counts are read
      const summary = await traced.t.stop();
      events += summary.received;
      lost += summary.lost;
      runs.conntrackE.push(await withProcess(['ip', 'netns', 'exec', node1, 'conntrack', '-E'], () => rate(lab, `(c) conntrack -E in node1, round ${round}`)));
      runs.tcpdump.push(await withProcess(['ip', 'netns', 'exec', node1, 'tcpdump', '-i', 'any', '-w', '/dev/null'], () => rate(lab, `(d) tcpdump -w on node1, round ${round}`)));
    }
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;

    // loss: every probe (rewrite is per packet) with 8-page perf buffers
    const lossy = await tracer(lab, ['nat', 'conntrack', 'drop', 'rewrite'], 8);
    await lab.load('nginx', 5, 4);
    await sleep(2000);
    const loss = await lossy.t.stop();

    process.stdout.write(
      `${JSON.stringify({
        seconds: SECONDS,
        rates: { none: mean(runs.none), natscope: mean(runs.natscope), conntrackE: mean(runs.conntrackE), tcpdump: mean(runs.tcpdump) },
        runs,
        // per round, against the same round's (a)
        ratios: {
          natscope: runs.natscope.map((x, i) => x / runs.none[i]!),
          conntrackE: runs.conntrackE.map((x, i) => x / runs.none[i]!),
          tcpdump: runs.tcpdump.map((x, i) => x / runs.none[i]!),
        },
        natscopeEvents: events,
        natscopeLost: lost,
        attachMs: Math.round(attachMs),
        loss: { received: loss.received, lost: loss.lost, bpftraceReported: loss.lostReportedByBpftrace, firstLost: lossy.firstLost() },
      })}\n`,
    );
  } finally {
    await lab.down();
  }
}

main().catch((error) => {
  process.stderr.write(`overhead benchmark failed: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
