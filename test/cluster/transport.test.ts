import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { alignment, bestClockReading, parseClockReading } from '../../src/cluster/clocks.js';
import { Kubectl } from '../../src/cluster/kubectl.js';
import { createNodePods } from '../../src/cluster/nodePods.js';
import { mergedEvent, startNodeTracer } from '../../src/cluster/transport.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { decodeEvent } from '../../src/events/codec.js';
import { isKernelEvent, monotonicNs, type NatscopeEvent } from '../../src/events/types.js';
import { parseBpftraceLine } from '../../src/tracer/parse.js';
import { isAlive } from '../../src/util/process.js';
import { capturedKernelEvents, FIXTURES, fixtureText, tempDirForTest } from '../helpers.js';
import { fakeCluster, labObjects, recordedLabStatus } from './fakeCluster.js';

const FAKE_BPFTRACE = join(FIXTURES, 'bin', 'fake-bpftrace');
const OUTPUT = join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl');

// The events a capture's event buffers hold (one per entry of each buffer print).
function eventsInCapture(): number {
  let n = 0;
  for (const line of fixtureText('bpftrace', 'lab-all-probes.jsonl').split('\n')) {
    const m = /^\{"type": "map", "data": \{"@(nat|ctn|ctd|drop|rw)_[ab]": (\{.*\})\}\}$/.exec(line);
    if (m) n += Object.keys(z.record(z.string(), z.unknown()).parse(JSON.parse(m[2]!))).length;
  }
  return n;
}

async function until(cond: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

function setUp(mode = 'ok') {
  const dir = tempDirForTest('natscope-transport-');
  const fake = fakeCluster(dir, labObjects(recordedLabStatus()), FAKE_BPFTRACE);
  process.env.FAKE_KUBECTL_DIR = fake.dir;
  process.env.FAKE_BPFTRACE_MODE = mode;
  process.env.FAKE_BPFTRACE_OUTPUT = OUTPUT;
  process.env.FAKE_BPFTRACE_LOG = join(dir, 'bpftrace.log');
  // the node script's `bpftrace` is the fake: first on the PATH kubectl exec passes on
  process.env.PATH = fake.env.PATH;
  return { fake, dir, kubectl: new Kubectl({ binary: join(fake.bin, 'kubectl') }) };
}

// node2's clock an hour behind this machine's, node1's on it: node2's kernel events move an hour on
const TWO_CLOCKS = [
  { offsetNs: 0, uncertaintyNs: 1000 },
  { offsetNs: 3600e9, uncertaintyNs: 1000 },
];

describe('bpftrace on cluster nodes, through kubectl exec', () => {
  test("two nodes' streams merge into one, every kernel event named after its node and on the common clock, each counted exactly, one node's taken an event at a time and the other's a flush at once", async () => {
    const { fake, dir, kubectl } = setUp();
    const run = await createNodePods(kubectl, {
      nodes: ['node1', 'node2'],
      namespace: 'default',
      image: 'i',
      ttlS: 60,
    });
    const events: NatscopeEvent[] = [];
    const batches: NatscopeEvent[][] = [];
    const begun = monotonicNs();
    const tracers = await Promise.all(
      run.pods.map((pod, i) =>
        startNodeTracer(kubectl, pod, {
          probes: ['drop'],
          readyTimeoutMs: 15_000,
          clock: TWO_CLOCKS[i],
          ...(i === 0
            ? { onEvent: (e: NatscopeEvent) => events.push(e) }
            : {
                onEvents: (batch: NatscopeEvent[]) => {
                  batches.push(batch);
                  events.push(...batch);
                },
              }),
        }),
      ),
    );
    expect(tracers.map((t) => [t.node, t.bpftrace])).toEqual([
      ['node1', '0.17.0'],
      ['node2', '0.17.0'],
    ]);
    const printed = eventsInCapture();
    await until(() => events.filter(isKernelEvent).length >= 2 * printed);
    const summaries = await Promise.all(tracers.map((t) => t.tracer.stop()));
    const ended = monotonicNs();
    // counts are stamped when read, through each node's clock, then moved back: on this machine's, within the run
    const counted = events.filter((e) => e.kind === 'counted');
    expect(new Set(counted.map((e) => e.host))).toEqual(new Set(['node1', 'node2']));
    for (const e of counted) {
      expect(e.t).toBeGreaterThanOrEqual(begun);
      expect(e.t).toBeLessThanOrEqual(ended);
    }
    for (const summary of summaries) {
      expect(summary.exitCode).toBe(0);
      expect(summary.received).toBe(printed);
      expect(summary.lost).toBe(0);
    }
    const kernel = events.filter(isKernelEvent);
    expect(kernel.filter((e) => e.host === 'node1')).toHaveLength(printed);
    expect(kernel.filter((e) => e.host === 'node2')).toHaveLength(printed);
    const times = (node: string) => kernel.filter((e) => e.host === node).map((e) => e.t);
    expect(times('node2')).toEqual(times('node1').map((t) => t + 3600e9));
    expect(batches.length).toBeGreaterThan(0);
    expect(batches.length).toBeLessThan(printed);
    // drop reasons named from the node's BTF (here: this machine's, which kubectl exec reads)
    const local = await loadDropReasons();
    const drops = kernel.filter((e) => e.kind === 'drop');
    expect(drops.length).toBeGreaterThan(0);
    for (const d of drops) expect(d.reason).toBe(local.name(d.reasonCode));
    // the program went in on stdin and reached bpftrace as a file, with the JSON flag and the budget
    const log = readFileSync(join(dir, 'bpftrace.log'), 'utf8');
    expect(log.split('\n').slice(0, 4)).toEqual(['-f', 'json', expect.stringMatching(/\/natscope\.bt$/), '20']);
    expect(log).toContain('tracepoint:skb:kfree_skb');
    expect(readFileSync(join(dir, 'bpftrace.log.env'), 'utf8')).toContain('BPFTRACE_MAP_KEYS_MAX=16384');
    // kubectl exec -i into each pod's container, the context and nothing else from outside on the line
    const execs = fake.calls().filter((c) => c[0] === 'exec' && c[1] === '-i');
    // (both started at once: in either order)
    expect(execs.map((c) => c.slice(0, 8)).sort((a, b) => a[4]!.localeCompare(b[4]!))).toEqual(
      run.pods.map((p) => ['exec', '-i', '-n', 'default', p.name, '-c', 'bpftrace', '--']),
    );
    // the node script's temporary folder is gone, and so are the node processes
    for (const t of tracers) expect(isAlive(t.tracer.pid)).toBe(false);
    const pid = Number(readFileSync(join(dir, 'bpftrace.log.pid'), 'utf8'));
    expect(isAlive(pid)).toBe(false);
    await run.remove();
    rmSync(join(dir, 'bpftrace.log'), { force: true });
  });

  test("each node's flush markers say how far it has got, on the common clock: the latest flush's hand-over", async () => {
    const { kubectl } = setUp();
    process.env.FAKE_BPFTRACE_OUTPUT = join(FIXTURES, 'bpftrace', 'drop-flush-handover.jsonl');
    const handOvers = [
      ...fixtureText('bpftrace', 'drop-flush-handover.jsonl').matchAll(/"natscope-flush \d+ (\d+)\\n"/g),
    ].map((m) => Number(m[1]));
    const run = await createNodePods(kubectl, {
      nodes: ['node1', 'node2'],
      namespace: 'default',
      image: 'i',
      ttlS: 60,
    });
    const throughs: number[][] = [[], []];
    const tracers = await Promise.all(
      run.pods.map((pod, i) =>
        startNodeTracer(kubectl, pod, {
          probes: ['drop'],
          readyTimeoutMs: 15_000,
          clock: TWO_CLOCKS[i],
          onEvents: () => undefined,
          onThrough: (t) => throughs[i]!.push(t),
        }),
      ),
    );
    // the capture's markers, then the fake's own (without a time, as a recording's): those say nothing
    await until(() => throughs.every((t) => t.length >= handOvers.length));
    await new Promise((r) => setTimeout(r, 300));
    await Promise.all(tracers.map((t) => t.tracer.stop()));
    expect(handOvers.length).toBeGreaterThan(10);
    expect(throughs[0]).toEqual(handOvers);
    expect(throughs[1]).toEqual(handOvers.map((t) => t + 3600e9));
    await run.remove();
  });

  test('a loss sits at the event after its gap, on the common clock like that event, on a node whose clock is an hour behind', async () => {
    const { dir, kubectl } = setUp();
    // the capture with one event cut from the middle of its first drop buffer: a gap of one
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const at = lines.findIndex((l) => /"@drop_[ab]": \{"(\d+),\d+": .*, "\1,\d+": .*, "\1,\d+": /.test(l));
    const cut = lines[at]!.replace(/, "(\d+),(\d+)": \[[^\]]*\]/, '');
    expect(cut).not.toBe(lines[at]);
    const gapped = join(dir, 'gapped.jsonl');
    writeFileSync(gapped, lines.map((l, i) => (i === at ? cut : l)).join('\n'));
    process.env.FAKE_BPFTRACE_OUTPUT = gapped;
    const run = await createNodePods(kubectl, { nodes: ['node2'], namespace: 'default', image: 'i', ttlS: 60 });
    const events: NatscopeEvent[] = [];
    const tracer = await startNodeTracer(kubectl, run.pods[0]!, {
      probes: ['drop'],
      readyTimeoutMs: 15_000,
      clock: { offsetNs: 3600e9, uncertaintyNs: 1000 },
      onEvents: (batch) => events.push(...batch),
    });
    await until(() => events.some((e) => e.kind === 'lost'));
    await tracer.tracer.stop();
    const lost = events.filter((e) => e.kind === 'lost');
    expect(lost).toEqual([expect.objectContaining({ host: 'node2', count: 1, source: 'sequence' })]);
    // placed at the next event of its CPU, which is moved the same hour
    const next = events[events.indexOf(lost[0]!) + 1]!;
    expect(next.kind).toBe('drop');
    expect(lost[0]!.t).toBe(next.t);
    // that event's own time as the node printed it, in the cut line
    const printed = parseBpftraceLine(cut, { hostOf: () => 'node2', dropReason: String });
    const raw = printed.type === 'batch' ? printed.events.map((p) => p.event.t) : [];
    expect(raw.map((t) => t + 3600e9)).toContain(next.t);
    await run.remove();
  });

  test('a node whose bpftrace fails to attach is named in the error, and nothing is left running', async () => {
    const { kubectl } = setUp('notroot');
    const run = await createNodePods(kubectl, { nodes: ['node2'], namespace: 'default', image: 'i', ttlS: 60 });
    const error = await startNodeTracer(kubectl, run.pods[0]!, {
      probes: ['drop'],
      onEvent: () => undefined,
      readyTimeoutMs: 10_000,
    }).catch((e: unknown) => e);
    expect(String(error)).toMatch(/node node2: bpftrace/);
    await run.remove();
  });
});

describe('one clock for every node', () => {
  test("a node reading this machine's own clocks is aligned to within its reading window", () => {
    const wallBefore = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const monotonic = process.hrtime.bigint();
    const wallAfter = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    const clock = alignment({ wallBefore, monotonic, wallAfter });
    expect(Math.abs(clock.offsetNs)).toBeLessThan(clock.uncertaintyNs! + 2_000_000);
  });

  test('a node booted an hour before this machine is moved an hour later, and its window is the uncertainty', () => {
    const local = 1_000_000_000_000_000n;
    const reading = parseClockReading('1796475923000000000 5000000000000 1796475923004000000\n')!;
    const clock = alignment(reading, local);
    expect(clock.uncertaintyNs).toBe(2_000_000);
    expect(clock.offsetNs).toBe(Number(1796475923002000000n - 5000000000000n - local));
    const events: NatscopeEvent[] = [];
    const drop = decodeEvent(
      '{"v":1,"kind":"drop","t":1000,"host":"node1","netns":1,"reason":"NETFILTER_DROP","reasonCode":7,"location":"nft_do_chain","packet":{"proto":"tcp","src":"10.0.1.2","dst":"10.0.1.3","sport":1,"dport":2,"flags":[]},"ifindex":2}',
      1,
    );
    events.push(mergedEvent('node1', clock)(drop));
    expect(events[0]!.t).toBe(1000 + clock.offsetNs);
    // the tracer's event itself, moved (no copy per event)
    expect(events[0]).toBe(drop);
  });

  test("a node's own reports are named after it and moved to the common clock, as its kernel's events are; a time moved before the clock's start is 0", () => {
    const move = mergedEvent('node2', { offsetNs: -5000, uncertaintyNs: 0 });
    const lost = decodeEvent(
      '{"v":1,"kind":"lost","t":7,"host":"natscope","netns":0,"probe":"nat","count":3,"source":"sequence"}',
      1,
    );
    const error = decodeEvent(
      '{"v":1,"kind":"error","t":7,"host":"natscope","netns":0,"message":"bad line","source":"bpftrace"}',
      2,
    );
    const nat = capturedKernelEvents().find((e) => e.kind === 'nat')!;
    expect(move(lost)).toMatchObject({ kind: 'lost', host: 'node2', count: 3 });
    expect(move(error)).toMatchObject({ host: 'node2', message: 'node node2: bad line' });
    expect(move({ ...nat, t: 1000 }).t).toBe(0);
    // a loss sits at the event after the gap, on the node's clock; the tracer's stamps are read on it too
    const later = mergedEvent('node2', { offsetNs: 3600e9, uncertaintyNs: 0 });
    expect(later(lost).t).toBe(3600e9 + 7);
    expect(later(error).t).toBe(3600e9 + 7);
    expect(later({ ...nat, t: 1000 }).t).toBe(3600e9 + 1000);
  });

  test('of several readings, the one with the narrowest window is used', () => {
    const best = bestClockReading(
      [
        '1796475923000000000 5000000000000 1796475923009000000',
        'garbage',
        '1796475923100000000 5000100000000 1796475923101000000',
        '',
      ].join('\n'),
    );
    expect(best).toEqual({
      wallBefore: 1796475923100000000n,
      monotonic: 5000100000000n,
      wallAfter: 1796475923101000000n,
    });
    expect(bestClockReading('sh: date: not found\n')).toBeNull();
  });

  test('a reading without nanoseconds or without the monotonic clock is not used', () => {
    expect(parseClockReading('1796475923N  1796475923N')).toBeNull();
    expect(parseClockReading('1796475923000000000  1796475923000000000')).toBeNull();
  });
});
