// Events per second the local side parses from N nodes at once, and the delay
// from a flush's arrival to the merged stream: what `natscope cluster` (and
// the micro-VM's trace ports) ask of the machine the user sits at. Each
// "node" is a bpftrace process as followBpftrace sees one (its stdout and
// stderr), fed the real output of a micro-VM run (test/fixtures/bpftrace,
// the default probes' buffers, made new connections as the pipeline bench
// makes them, as the bytes a pipe delivers); every node's events go through
// natscope's own flush assembly, parsing and loss counting, the cluster
// transport's clock alignment, then one TimeOrderedMerge, a flush at a
// time, as the cluster commands do: each node a source of the merge that
// says how far it has got after each flush (the hand-over time its marker carries). All in
// one process, on one core, as in natscope.

import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { TimeOrderedMerge } from '../../src/cluster/merge.js';
import { mergedEvent, onCommonClock } from '../../src/cluster/transport.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { type BpftraceProcess, followBpftrace } from '../../src/tracer/bpftrace.js';
import type { BpftraceExit } from '../../src/tracer/outcome.js';
import { ATTACH_NOTICE } from '../../src/tracer/parse.js';
import { FLUSH_INTERVAL_MS as KERNEL_FLUSH_MS, FLUSH_MARKER as FLUSH_WORD } from '../../src/tracer/streams.js';
import { type DetectedBpftrace, featuresOf } from '../../src/tracer/version.js';
import type { Figure } from './figures.js';
import {
  type Buffer as CapturedBuffer,
  eventsIn,
  flushLines,
  ROUNDS_PER_FLUSH,
  realContext,
  templates,
} from './pipeline.js';

const TOTAL_EVENTS = 500_000;
// the delay is measured under a load the local side keeps up with: 2 of a
// flush's 20 rounds, 16,560 events/s a node, for 3 s
const PACED_ROUNDS = 2;
const PACED_FLUSHES = 30;
const NODE_COUNTS = [1, 2, 4, 8] as const;
const RUNS = 5;
// the probes print a flush ten times a second
const FLUSH_INTERVAL_MS = 100;
const FOUND: DetectedBpftrace = {
  binary: 'bpftrace',
  version: { major: 0, minor: 17, patch: 0 },
  features: featuresOf({ major: 0, minor: 17, patch: 0 }),
  support: 'tested',
};

// A node's bpftrace as the tracer reads it: output written by the bench.
function fakeNode(): {
  process: BpftraceProcess;
  attach(): void;
  write(bytes: Uint8Array): Promise<void>;
  end(): void;
} {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let running = true;
  let exited: (exit: BpftraceExit) => void = () => undefined;
  const result = new Promise<BpftraceExit>((resolve) => {
    exited = resolve;
  });
  const end = () => {
    if (!running) return;
    running = false;
    stdout.end();
    stderr.end();
    // after the streams are read out, as a child's exit follows its output
    stdout.once('end', () => exited({ exitCode: 0, signal: null, errorCode: null, message: '' }));
  };
  return {
    process: { pid: undefined, stdout, stderr, result, running: () => running, stop: end, kill: end },
    // bpftrace 0.17 says it has attached on stderr
    attach: () => stderr.write(`${ATTACH_NOTICE}\n`),
    write: (bytes) =>
      new Promise((resolve) => {
        if (stdout.write(bytes)) resolve();
        else stdout.once('drain', resolve);
      }),
    end,
  };
}

// A flush as a node's bpftrace writes it: its lines, then the marker with
// its tick's time and its hand-over's.
const flushBytes = (lines: string[], flush: number) =>
  Buffer.from(
    `${lines.join('\n')}\n{"type": "printf", "data": "${FLUSH_WORD} ${markerOf(flush)} ${handOverOf(flush)}\\n"}\n`,
  );

// The kernel's flushes, in time: flush f holds the events up to its hand-over
// tick at (f + 1) intervals, printed half an interval later (the marker's
// time), so the next flush holds only later events, as bpftrace's do.
const INTERVAL_NS = KERNEL_FLUSH_MS * 1e6;
const START_NS = 1e9;
const handOverOf = (flush: number) => START_NS + (flush + 1) * INTERVAL_NS;
const markerOf = (flush: number) => handOverOf(flush) + INTERVAL_NS / 2;

// The capture's events, a flush's `rounds` spread evenly over its interval
// (the capture itself spans seconds), keeping their order within a round.
function timesWithinFlush(
  buffers: CapturedBuffer[],
  rounds: number,
): (t: number, flush: number, round: number) => number {
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const { entries } of buffers)
    for (const [, values] of entries) {
      const t = values[0];
      if (typeof t !== 'number') continue;
      first = Math.min(first, t);
      last = Math.max(last, t);
    }
  const roundNs = Math.floor(INTERVAL_NS / rounds);
  const scale = (roundNs - 1) / Math.max(1, last - first);
  return (t, flush, round) => START_NS + flush * INTERVAL_NS + round * roundNs + Math.floor((t - first) * scale);
}

interface PreparedFlushes {
  eventsPerFlush: number;
  // each flush's bytes; each node's sequence numbers run on from its last flush, as one bpftrace's do
  bytes: Buffer[];
}

interface NodesRun {
  eventsPerSecond: number;
  received: number;
  lost: number;
  // events the merge sent out of order (0: every node's flushes came in time order, as bpftrace's do)
  late: number;
  // arrival of a flush at the tracer → its events out of the merge (ms)
  delayP50: number;
  delayP99: number;
  delayMean: number;
}

// node i of n flushes i/n of an interval after node 0
const phaseMs = (i: number, n: number) => (i * FLUSH_INTERVAL_MS) / n;

// N nodes: `paced` writes each node's flushes every 100 ms (the delay a user
// sees), each node at its own phase of the interval, as nodes' ticks fall
// (each node's clock offset by its phase, so its events and its marker
// times are its own); unpaced writes them as fast as they are taken (the
// throughput: a node a few flushes behind the others would be far more than
// the merge's window behind in the events' time).
async function runNodes(
  flushes: PreparedFlushes,
  n: number,
  paced: boolean,
  totalEvents: number,
  // false: the merge never hears how far a node has got (its 300 ms window alone, as before markers had a time)
  readMarkers = true,
): Promise<NodesRun> {
  const flushesPerNode = Math.ceil(totalEvents / flushes.eventsPerFlush / n);
  const context = await realContext(templates());
  const delays: number[] = [];
  // paced: every 97th event of a flush, and when its flush was written (the delay is read when it leaves the merge)
  const sampled = new Map<NatscopeEvent, number>();
  let out = 0;
  const merge = new TimeOrderedMerge<NatscopeEvent>((e) => {
    out++;
    if (!paced) return;
    const at = sampled.get(e);
    if (at === undefined) return;
    delays.push(performance.now() - at);
    sampled.delete(e);
  });
  const nodes = Array.from({ length: n }, () => fakeNode());
  const sources = nodes.map(() => merge.source());
  // when each node's latest flush was written
  const arrived = nodes.map(() => 0);
  const followed = nodes.map((node, i) => {
    // the cluster transport's receiver: each node's clock aligned (here a second ahead, paced: plus its phase)
    const clock = { offsetNs: 1e9 + (paced ? phaseMs(i, n) * 1e6 : 0), uncertaintyNs: 0 };
    const asMerged = mergedEvent(`node${i + 1}`, clock);
    const source = sources[i]!;
    return followBpftrace(node.process, {
      probes: ['nat', 'conntrack', 'drop'],
      found: FOUND,
      context,
      // a flush at a time, as the cluster session takes them
      onEvents: (events: NatscopeEvent[]) => {
        const batch = events.map(asMerged);
        if (paced) for (let k = 0; k < batch.length; k += 97) sampled.set(batch[k]!, arrived[i]!);
        source.push(batch);
      },
      onThrough: readMarkers ? (ns) => source.through(onCommonClock(ns, clock)) : undefined,
    });
  });
  for (const node of nodes) node.attach();
  const tracers = await Promise.all(followed.map((f) => f.ready));
  const started = performance.now();
  for (let f = 0; f < flushesPerNode; f++) {
    const tick = performance.now();
    for (const [i, node] of nodes.entries()) {
      if (paced) await sleep(Math.max(0, tick + phaseMs(i, n) - performance.now()));
      arrived[i] = performance.now();
      await node.write(flushes.bytes[f % flushes.bytes.length]!);
    }
    // let the tracers take what was written before the next flush arrives
    await new Promise((resolve) => setImmediate(resolve));
    if (paced) await sleep(Math.max(0, tick + FLUSH_INTERVAL_MS - performance.now()));
  }
  for (const node of nodes) node.end();
  const summaries = await Promise.all(tracers.map((t) => t.done));
  for (const source of sources) source.end();
  merge.close();
  const ms = performance.now() - started;
  delays.sort((a, b) => a - b);
  const at = (q: number) => Math.round(delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] ?? 0);
  return {
    eventsPerSecond: Math.round(out / (ms / 1000)),
    received: summaries.reduce((k, s) => k + s.received, 0),
    lost: summaries.reduce((k, s) => k + s.lost, 0),
    late: merge.late,
    delayP50: at(0.5),
    delayP99: at(0.99),
    delayMean: Math.round(delays.reduce((k, d) => k + d, 0) / Math.max(1, delays.length)),
  };
}

export async function benchNodes(): Promise<Figure[]> {
  const buffers = templates();
  // every flush a node sends, prepared before the clock starts (the bench measures natscope, not the generator)
  const prepare = (rounds: number, count: (eventsPerFlush: number) => number): PreparedFlushes => {
    const time = timesWithinFlush(buffers, rounds);
    const eventsPerFlush = eventsIn(flushLines(buffers, 0, time, rounds));
    return {
      eventsPerFlush,
      bytes: Array.from({ length: count(eventsPerFlush) }, (_, f) =>
        flushBytes(flushLines(buffers, f, time, rounds), f),
      ),
    };
  };
  const flushes = prepare(ROUNDS_PER_FLUSH, (perFlush) => Math.ceil(TOTAL_EVENTS / perFlush));
  const figures: Figure[] = [];
  for (const n of NODE_COUNTS) {
    // the median of RUNS runs (a shared machine's speed drifts from one second to the next), with every run's rate
    const runs: NodesRun[] = [];
    for (let k = 0; k < RUNS; k++) runs.push(await runNodes(flushes, n, false, TOTAL_EVENTS));
    runs.sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
    const r = runs[Math.floor(RUNS / 2)]!;
    figures.push({
      name: `nodes: ${n === 1 ? "one node's stream" : `${n} nodes' streams`} parsed and merged (one core, median of ${RUNS})`,
      value: r.eventsPerSecond,
      unit: 'events/s',
      target: '≥ 500000 shared',
      where: 'native',
      note: `${runs[0]!.eventsPerSecond}–${runs[RUNS - 1]!.eventsPerSecond}; ${r.received} events received a run, ${runs.reduce((k, x) => k + x.lost, 0)} lost and ${runs.reduce((k, x) => k + x.late, 0)} out of order in all`,
    });
  }
  // at bpftrace's own cadence, 4 nodes: an event leaves once every node has said it got past it
  // (its latest flush's hand-over), up to a flush interval; without markers, the merge's window (300 ms)
  const light = prepare(PACED_ROUNDS, () => PACED_FLUSHES);
  const paced = await runNodes(light, 4, true, 4 * PACED_FLUSHES * light.eventsPerFlush);
  figures.push({
    name: 'nodes: flush arrival → merged stream, 4 nodes at 10 flushes/s',
    value: paced.delayP50,
    unit: 'ms',
    target: 'up to a flush interval (100) + little',
    where: 'native',
    note: `mean ${paced.delayMean} ms, p99 ${paced.delayP99} ms (each node at its own phase of the interval); ${paced.received} events, ${paced.lost} lost, ${paced.late} out of order`,
  });
  const unread = await runNodes(light, 4, true, 4 * PACED_FLUSHES * light.eventsPerFlush, false);
  figures.push({
    name: "nodes: … the same with the nodes' markers left unread (the merge's 300 ms window alone)",
    value: unread.delayP50,
    unit: 'ms',
    target: 'for comparison',
    where: 'native',
    note: `mean ${unread.delayMean} ms, p99 ${unread.delayP99} ms; ${unread.lost} lost, ${unread.late} out of order`,
  });
  return figures;
}
