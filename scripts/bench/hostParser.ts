// Tracing overhead in the micro-VM with natscope's parser on the host: boots
// the VM once with its trace ports and scripts/bench/hostParserGuest.ts as
// its command, follows every bpftrace run on the ports here (parse, flush,
// loss, flow correlation: what natscope does with the events), says on the
// VM's stdin when the probes have attached, and accounts this process's CPU
// between the guest's window marks. Prints the figures; run alone as root
// (node dist/scripts/bench/hostParser.js) or as part of npm run bench.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { followGuestRun, PortRuns } from '../../src/agent/vmTracer.js';
import { FlowTracker } from '../../src/events/flows.js';
import { DEFAULT_PROBES } from '../../src/tracer/probes.js';
import { forEachLine } from '../../src/util/lines.js';
import { projectRoot } from '../../src/util/paths.js';
import { NODE_FLAGS } from '../../src/util/runtime.js';
import { TRACE_PORTS } from '../../src/vm/ports.js';
import { startVm } from '../../src/vm/run.js';
import { type Figure, formatFigure } from './figures.js';
import { describeError } from '../../src/errors.js';

const note = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ownCpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

// What the guest half writes (a file in a shared folder: the serial port has dropped bytes of long lines).
const GuestResultSchema = z.object({
  seconds: z.number(),
  runs: z.object({
    none: z.array(z.number()),
    ports: z.array(z.number()),
    guest: z.array(z.number()),
    conntrackE: z.array(z.number()),
  }),
  ratios: z.object({ ports: z.array(z.number()), guest: z.array(z.number()), conntrackE: z.array(z.number()) }),
  untracedUs: z.array(z.number()),
  ports: z.array(z.object({ rate: z.number(), bpfUs: z.number(), bpftraceUs: z.number(), connections: z.number() })),
  guest: z.array(z.object({ bpftraceUs: z.number(), natscopeUs: z.number() })),
});

const MarkSchema = z.object({
  mark: z.enum(['attaching', 'start', 'end', 'done']),
  round: z.number().optional(),
  connections: z.number().optional(),
});

export async function benchHostParser(): Promise<Figure[]> {
  const out = join(projectRoot(), 'test-output');
  const file = join(out, 'host-parser.json');
  mkdirSync(out, { recursive: true });
  rmSync(file, { force: true });
  const guestScript = join(projectRoot(), 'dist', 'scripts', 'bench', 'hostParserGuest.js');
  const vm = await startVm({
    argv: [process.execPath, ...NODE_FLAGS, guestScript, file],
    shares: [out],
    ports: [TRACE_PORTS.out, TRACE_PORTS.err],
    // NATSCOPE_BENCH_* settings reach the guest with natscope's other settings (src/vm/guest.ts)
    timeoutMs: 3600_000,
    log: note,
  });
  forEachLine(vm.stderr, (line) => process.stderr.write(`  vm: ${line}\n`));
  const hostUs: number[] = [];
  let windowStart = 0;
  forEachLine(vm.stdout, (line) => {
    const parsed = MarkSchema.safeParse(
      (() => {
        try {
          return JSON.parse(line);
        } catch {
          return null;
        }
      })(),
    );
    if (!parsed.success) return;
    const m = parsed.data;
    if (m.mark === 'start') windowStart = ownCpuUs();
    if (m.mark === 'end' && m.connections) hostUs.push((ownCpuUs() - windowStart) / m.connections);
  });
  const runs = new PortRuns(vm.ports.get(TRACE_PORTS.out)!, vm.ports.get(TRACE_PORTS.err)!, note);
  const flows = new FlowTracker();
  const totals = { received: 0, counted: 0, lost: 0, lostByBpftrace: 0, attachMs: [] as number[] };
  const following = (async () => {
    for (;;) {
      const run = await runs.next().catch(() => null);
      if (!run) return;
      // the guest stops its bpftrace itself at the end of each window
      const followed = followGuestRun(run, DEFAULT_PROBES, {
        onEvent: (e) => flows.add(e),
        signal: () => undefined,
        readyTimeoutMs: 180_000,
      });
      try {
        const tracer = await followed.ready;
        totals.attachMs.push(tracer.attachMs);
        vm.stdin.write('attached\n');
        const s = await tracer.done;
        totals.received += s.received;
        totals.counted += s.counted;
        totals.lost += s.lost;
        totals.lostByBpftrace += s.lostReportedByBpftrace;
      } catch (error) {
        note(`a guest bpftrace did not attach: ${describeError(error)}`);
        await followed.halt();
      }
    }
  })();
  const result = await vm.result;
  await following;
  if (result.exitCode !== 0)
    throw new Error(`the host-parser benchmark failed in the micro-VM (exit ${result.exitCode})`);
  const r = GuestResultSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  writeFileSync(file, `${JSON.stringify({ ...r, hostUs, totals }, null, 2)}\n`);
  return figures(r, hostUs, totals);
}

function figures(
  r: z.infer<typeof GuestResultSchema>,
  hostUs: number[],
  totals: { received: number; counted: number; lost: number; lostByBpftrace: number },
): Figure[] {
  const where = 'micro-vm' as const;
  const n = r.runs.none.length;
  const ratio = (xs: number[]) => Number(median(xs).toFixed(2));
  const range = (xs: number[]) =>
    `range ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}; rounds ${xs.map((x) => x.toFixed(2)).join(', ')}`;
  const runs = (xs: number[]) => `runs ${xs.map((x) => Math.round(x)).join(', ')}`;
  const us = (xs: number[]) => Math.round(median(xs));
  const roundsUs = (xs: number[]) => `rounds ${xs.map((x) => Math.round(x)).join(', ')} µs`;
  const list: Figure[] = [
    {
      name: `host parser: (a) nothing attached, ${n} × ${r.seconds} s, median`,
      value: Math.round(median(r.runs.none)),
      unit: 'conn/s',
      where,
      note: runs(r.runs.none),
    },
    {
      name: 'host parser: (b) default probes, parser on the host: ratio to (a)',
      value: ratio(r.ratios.ports),
      unit: '×',
      target: '≥ 0.9, and ≥ (c)',
      where,
      note: `${range(r.ratios.ports)}; ${runs(r.runs.ports)}; ${totals.received} events reported, ${totals.counted} counted past the detail budget, ${totals.lost} lost (bpftrace said ${totals.lostByBpftrace})`,
    },
    {
      name: 'host parser: (c) conntrack -E in node1: ratio to (a)',
      value: ratio(r.ratios.conntrackE),
      unit: '×',
      where,
      note: `${range(r.ratios.conntrackE)}; ${runs(r.runs.conntrackE)}`,
    },
  ];
  if (r.ratios.guest.length > 0)
    list.push({
      name: 'host parser: (g) default probes, parser in the guest: ratio to (a)',
      value: ratio(r.ratios.guest),
      unit: '×',
      where,
      note: `${range(r.ratios.guest)}; ${runs(r.runs.guest)}`,
    });
  list.push(
    {
      name: 'host parser: (a) CPU per connection, untraced (whole VM)',
      value: us(r.untracedUs),
      unit: 'µs',
      where,
      note: roundsUs(r.untracedUs),
    },
    {
      name: "host parser: (b) CPU per connection: the probes' BPF programs (guest)",
      value: us(r.ports.map((p) => p.bpfUs)),
      unit: 'µs',
      where,
      note: roundsUs(r.ports.map((p) => p.bpfUs)),
    },
    {
      name: 'host parser: (b) CPU per connection: bpftrace (guest)',
      value: us(r.ports.map((p) => p.bpftraceUs)),
      unit: 'µs',
      where,
      note: roundsUs(r.ports.map((p) => p.bpftraceUs)),
    },
    {
      name: 'host parser: (b) CPU per connection: natscope (host, native)',
      value: us(hostUs),
      unit: 'µs',
      where,
      note: `${roundsUs(hostUs)}; host CPU, not the guest's`,
    },
  );
  if (r.guest.length > 0)
    list.push(
      {
        name: 'host parser: (g) CPU per connection: bpftrace (guest)',
        value: us(r.guest.map((g) => g.bpftraceUs)),
        unit: 'µs',
        where,
        note: roundsUs(r.guest.map((g) => g.bpftraceUs)),
      },
      {
        name: 'host parser: (g) CPU per connection: natscope (guest, emulated)',
        value: us(r.guest.map((g) => g.natscopeUs)),
        unit: 'µs',
        where,
        note: roundsUs(r.guest.map((g) => g.natscopeUs)),
      },
    );
  return list;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchHostParser().then(
    (list) => {
      for (const f of list) process.stdout.write(`${formatFigure(f)}\n`);
      process.exit(0);
    },
    (error) => {
      process.stderr.write(`host-parser benchmark failed: ${(error instanceof Error && error.stack) || error}\n`);
      process.exit(1);
    },
  );
}
