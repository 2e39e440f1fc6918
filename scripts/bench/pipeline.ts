// Events per second through the whole host-side pipeline on one core:
// bpftrace's flush of batched events → parse → sort by time → loss
// accounting → flow correlation. The input is the real output of a micro-VM run
// (test/fixtures/bpftrace, the default probes' buffers), repeated with fresh
// client ports so every connection is new, in flushes of 20 rounds. Each
// measurement runs in a fresh node process: once with natscope's runtime
// flags (src/util/runtime.ts), once with node's defaults, to show what the
// flags buy.

import { readFileSync, realpathSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { FlowTracker } from '../../src/events/flows.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { NetnsResolver } from '../../src/tracer/netns.js';
import { isKernelEvent } from '../../src/events/types.js';
import { FlushAssembler } from '../../src/tracer/flush.js';
import type { ParseContext } from '../../src/tracer/parse.js';
import { parseBpftraceLine } from '../../src/tracer/parse.js';
import { FLUSH_MARKER as FLUSH_WORD, STREAMS } from '../../src/tracer/streams.js';
import { projectRoot } from '../../src/util/paths.js';
import { NODE_FLAGS } from '../../src/util/runtime.js';
import type { Figure } from './figures.js';
import { z } from 'zod';
import { parseJsonAs } from '../../src/util/json.js';

const EVENTS = 1_000_000;
export const ROUNDS_PER_FLUSH = 20;
// the line the composed program prints at the end of each flush, as bpftrace spaces its JSON
export const FLUSH_MARKER = `{"type": "printf", "data": "${FLUSH_WORD}\\n"}`;
// raw __be32 of 192.168.10.10, the office client: the value after it is its port
const CLIENT = 168470720;

// One buffer's entries as the capture printed them: values per "CPU,SEQ" key.
export type Buffer = { name: string; entries: [string, (number | string)[]][] };
// a rounded conntrack address → its exact digits
const BIG = new Map<number, string>();

// A map print of the capture: {"type": "map", "data": {NAME: CONTENTS}}; an
// event buffer's contents are [values…] per "CPU,SEQ" key
const CapturedMapSchema = z.object({ data: z.record(z.string(), z.unknown()) });
const EventBufferSchema = z.record(z.string(), z.array(z.union([z.number(), z.string()])));

export function templates(): Buffer[] {
  const text = readFileSync(join(projectRoot(), 'test', 'fixtures', 'bpftrace', 'lab-all-probes.jsonl'), 'utf8');
  // natscope's default probes (nat, conntrack, drop): rewrite is opt-in, per packet
  const names = new Set((['nat', 'ct-new', 'ct-destroy', 'drop'] as const).map((s) => STREAMS[s].buffers[0]));
  const byName = new Map<string, [string, (number | string)[]][]>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"type": "map"')) continue;
    const { data } = CapturedMapSchema.parse(JSON.parse(line));
    // conntrack addresses are above 2^53: keep their digits as printed
    for (const m of line.matchAll(/\[\d+,\d+,(\d{17,})/g)) BIG.set(Number(m[1]), m[1]!);
    for (const [name, entries] of Object.entries(data)) {
      const key = name.replace(/_b$/, '_a');
      if (!names.has(key)) continue;
      const list = byName.get(key) ?? [];
      list.push(...Object.entries(EventBufferSchema.parse(entries)));
      byName.set(key, list);
    }
  }
  // in time order, as a CPU numbers its events: the sequence numbers flushLines gives then rise with time
  const time = ([, values]: [string, (number | string)[]]) => Number(values[0]);
  return [...byName].map(([name, entries]) => ({ name, entries: entries.sort((a, b) => time(a) - time(b)) }));
}

// An event's time in a round of a flush, from its time in the capture.
export type RoundTime = (t: number, flush: number, round: number) => number;
// a round a millisecond after the one before, as a new connection would be
const MILLISECOND_ROUNDS: RoundTime = (t, flush, round) => t + (flush * ROUNDS_PER_FLUSH + round) * 1e6;

// One flush as bpftrace prints it (its spacing, too): a line per buffer, each
// with `rounds` copies of the capture's events, client ports and sequence
// numbers made new.
export function flushLines(
  buffers: Buffer[],
  flush: number,
  time: RoundTime = MILLISECOND_ROUNDS,
  rounds = ROUNDS_PER_FLUSH,
): string[] {
  return buffers.map(({ name, entries }) => {
    const out: string[] = [];
    let seq = flush * rounds * entries.length;
    for (let r = 0; r < rounds; r++) {
      const port = 1024 + ((flush * rounds + r) % 60000);
      const raw = ((port & 255) << 8) | (port >> 8);
      for (const [, values] of entries) {
        const text = values.map((v, i) =>
          typeof v === 'string'
            ? JSON.stringify(v)
            : i === 0
              ? time(v, flush, r)
              : values[i - 1] === CLIENT
                ? raw
                : (BIG.get(v) ?? v),
        );
        out.push(`"0,${++seq}": [${text.join(',')}]`);
      }
    }
    return `{"type": "map", "data": {"${name}": {${out.join(', ')}}}}`;
  });
}

// events in one flush's lines: one "CPU,SEQ": [...] entry each
export const eventsIn = (lines: string[]) =>
  lines.reduce((k, line) => k + (line.match(/"\d+,\d+": \[/g)?.length ?? 0), 0);

// The tracer's own lookups: a resolver with the capture's namespaces
// registered as lab hosts, and this kernel's drop reasons.
export async function realContext(buffers: Buffer[]): Promise<ParseContext> {
  const resolver = new NetnsResolver();
  const hosts = ['office', 'vpn', 'node1', 'node2', 'node3', 'pod-nginx', 'pod-mysql'];
  for (const { entries } of buffers) {
    for (const [, values] of entries) {
      const inode = values[1]; // NETNS, second in every probe's values
      if (typeof inode === 'number' && inode && !resolver.has(inode))
        resolver.register(inode, hosts[resolver.entries().length % hosts.length]!);
    }
  }
  const reasons = await loadDropReasons();
  return { hostOf: (inode) => resolver.hostOf(inode), dropReason: (code) => reasons.name(code) };
}

// What one measuring process prints (measureIn reads it back)
const MeasurementSchema = z.object({
  eventsPerSecond: z.number().min(0),
  gcPercent: z.number().min(0),
  // what the tracker holds after 1M events: on the heap, and in its index's typed arrays
  heldBytes: z.number(),
  flowsKept: z.int().min(0),
});
type Measurement = z.infer<typeof MeasurementSchema>;

// EVENTS events through natscope's own flush assembly (a flush's events sorted by
// time and counted against their sequence numbers) into the flow tracker.
function feed(pool: string[][], ctx: ParseContext, tracker: FlowTracker): { events: number; ms: number } {
  let events = 0;
  const flush = new FlushAssembler((out) => {
    for (const event of out) {
      if (!isKernelEvent(event)) continue;
      tracker.add(event);
      events++;
    }
  });
  const started = performance.now();
  for (const lines of pool) {
    for (const [n, line] of lines.entries()) flush.take(parseBpftraceLine(line, ctx), n + 1, line);
    if (events >= EVENTS) return { events, ms: performance.now() - started };
  }
  // a flush seen again would be counted once: the input is never cycled
  throw new Error(`the prepared flushes hold ${events} events, fewer than ${EVENTS}`);
}

async function measure(): Promise<Measurement> {
  const buffers = templates();
  // prepare the input first (the clock measures natscope, not the generator):
  // flushes of distinct connections, as many as EVENTS takes (about 250)
  const built: string[][] = [];
  for (let held = 0; held < EVENTS; ) {
    const lines = flushLines(buffers, built.length);
    built.push(lines);
    held += eventsIn(lines);
  }
  // as read from bpftrace's stdout: flat strings decoded from bytes
  const pool = built.map((lines) =>
    Buffer.from(`${lines.join('\n')}\n${FLUSH_MARKER}`)
      .toString('utf8')
      .split('\n'),
  );
  const ctx = await realContext(buffers);
  let tracker: FlowTracker | null = new FlowTracker();
  // time the collector spends (the events flows keep survive young-generation collections)
  let gcMs = 0;
  const gcWatch = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gcWatch.observe({ entryTypes: ['gc'] });
  const { events, ms } = feed(pool, ctx, tracker);
  // entries arrive asynchronously
  await new Promise((resolve) => setTimeout(resolve, 100));
  gcWatch.disconnect();
  const flowsKept = tracker.size;
  // what the tracker holds: memory with it, minus memory without it
  const used = () => {
    // twice: the first collection may still be sweeping when it returns, and
    // what it freed would still count as used
    global.gc!();
    global.gc!();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const withTracker = used();
  tracker = null;
  const heldBytes = withTracker - used();
  return {
    eventsPerSecond: Math.round(events / (ms / 1000)),
    gcPercent: Math.round((100 * gcMs) / ms),
    heldBytes,
    flowsKept,
  };
}

// Runs `measure` in a fresh node with exactly the given V8 flags (none from NODE_OPTIONS).
async function measureIn(flags: readonly string[]): Promise<Measurement> {
  const result = await execa(process.execPath, ['--expose-gc', ...flags, fileURLToPath(import.meta.url)], {
    reject: false,
    env: { NODE_OPTIONS: '' },
  });
  if (result.exitCode !== 0)
    throw new Error(`the pipeline benchmark failed (exit ${result.exitCode}): ${String(result.stderr).trim()}`);
  return parseJsonAs(MeasurementSchema, String(result.stdout), "the pipeline benchmark's measurement", 'npm run build');
}

const RUNS = 5;

// The median run by rate, and every run's rate: a shared 2-core machine is noisy.
async function medianOf(flags: readonly string[]): Promise<{ median: Measurement; rates: number[] }> {
  const runs: Measurement[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await measureIn(flags));
  runs.sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
  return { median: runs[Math.floor(RUNS / 2)]!, rates: runs.map((r) => r.eventsPerSecond) };
}

export async function benchPipeline(): Promise<Figure[]> {
  const { median: tuned, rates: tunedRates } = await medianOf(NODE_FLAGS);
  const { median: defaults, rates: defaultRates } = await medianOf([]);
  const range = (rates: number[]) => `runs ${rates.map((r) => Math.round(r / 1000)).join(', ')} k`;
  return [
    {
      name: `pipeline: parse → event → flows (one core, median of ${RUNS})`,
      value: tuned.eventsPerSecond,
      unit: 'events/s',
      target: '≥ 500000',
      where: 'native',
      note: `natscope's flags (${NODE_FLAGS.join(' ')}); ${range(tunedRates)}; ${tuned.gcPercent} % in garbage collection`,
    },
    {
      name: "pipeline: the same with node's default flags",
      value: defaults.eventsPerSecond,
      unit: 'events/s',
      where: 'native',
      note: `${range(defaultRates)}; ${defaults.gcPercent} % in garbage collection: the events flows keep are promoted, then die old`,
    },
    {
      name: 'pipeline: memory the flow tracker holds after 1M events',
      value: Math.round(tuned.heldBytes / 1e6),
      unit: 'MB',
      target: 'bounded',
      where: 'native',
      note: `${tuned.flowsKept} flows kept (the rest expired); heap and typed arrays`,
    },
  ];
}

// run as a child by measureIn: one measurement, as JSON
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  if (!global.gc) throw new Error('run with node --expose-gc');
  process.stdout.write(`${JSON.stringify(await measure())}\n`);
}
