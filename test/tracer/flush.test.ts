// The tracer's flush logic as data: bpftrace's parsed output records in,
// events out. The records come from the end-to-end test's real bpftrace
// output (test/fixtures/bpftrace/lab-all-probes.jsonl, all four probes in
// the micro-VM), cut and reordered the way bpftrace's own stops and
// stalls would.

import { describe, expect, test } from 'vitest';
import type { NatscopeEvent } from '../../src/events/types.js';
import { FlushAssembler } from '../../src/tracer/flush.js';
import { type BpftraceRecord, parseBpftraceLine } from '../../src/tracer/parse.js';
import { fixtureText } from '../helpers.js';

const LINES = fixtureText('bpftrace', 'lab-all-probes.jsonl').split('\n');
const ctx = { hostOf: (n: number) => `ns${n}`, dropReason: (c: number) => `REASON_${c}` };
const record = (line: string): BpftraceRecord => parseBpftraceLine(line, ctx);

// Feeds lines in order; returns every event emitted and the assembler.
function run(lines: string[], options: { stopBefore?: number } = {}) {
  const out: NatscopeEvent[] = [];
  const batches: NatscopeEvent[][] = [];
  const flush = new FlushAssembler((events) => {
    batches.push(events);
    out.push(...events);
  });
  lines.forEach((line, i) => {
    if (i === options.stopBefore) flush.stop();
    flush.take(record(line), i + 1, line);
  });
  flush.end();
  return { out, batches, flush };
}

const kernelKinds = new Set(['nat', 'ct-new', 'ct-destroy', 'drop', 'rewrite']);
const kernel = (events: NatscopeEvent[]) => events.filter((e) => kernelKinds.has(e.kind));
const firstFlush = LINES.findIndex((l) => l.includes('"@nat_a": {"0,174"'));
// one whole flush of the capture: its buffers, its counts, its marker
const FLUSH = LINES.slice(firstFlush, firstFlush + 7);

describe('the flush assembler', () => {
  test('holds a flush until its marker, then emits its events in time order and its counts after them', () => {
    const out: NatscopeEvent[] = [];
    const flush = new FlushAssembler((events) => out.push(...events));
    for (const [i, l] of FLUSH.slice(0, 6).entries()) flush.take(record(l), i + 1, l);
    expect(out).toEqual([]);
    flush.take(record(FLUSH[6]!), 7, FLUSH[6]!);
    const events = kernel(out);
    expect(events.length).toBeGreaterThan(3);
    const times = events.map((e) => e.t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const firstCount = out.findIndex((e) => e.kind === 'counted');
    expect(firstCount).toBeGreaterThan(out.findLastIndex((e) => kernelKinds.has(e.kind)));
    expect(flush.flushes).toBe(1);
  });

  test('counts every event of the whole capture once, and loses none', () => {
    const { out, flush } = run(LINES, { stopBefore: LINES.indexOf('') });
    const seen = new Set(kernel(out).map((e) => `${e.kind} ${e.t} ${e.netns}`));
    expect(seen.size).toBe(kernel(out).length);
    const summary = flush.summary(0);
    expect(summary.lost).toBe(0);
    expect(summary.received).toBe(kernel(out).length);
    expect(out.filter((e) => e.kind === 'lost')).toEqual([]);
    expect(summary.counted).toBe(out.reduce((n, e) => n + (e.kind === 'counted' ? e.count : 0), 0));
  });

  test('a buffer printed before bpftrace stopped and again in its exit dump goes out once', () => {
    // bpftrace stopped after printing the flush's buffers but before it cleared them
    const buffers = FLUSH.slice(0, 3);
    const { out } = run([...buffers, '', '', ...buffers], { stopBefore: 3 });
    const once = run([...buffers, FLUSH[6]!]).out;
    expect(kernel(out)).toEqual(kernel(once));
  });

  test('counts printed since the last marker are not taken again from the exit dump', () => {
    const counts = FLUSH.slice(3, 6);
    const { out } = run([...counts, '', '', ...counts], { stopBefore: 3 });
    const once = run([...counts, FLUSH[6]!]).out;
    // counts the exit dump holds carry the reader's clock (no marker closes them): compared without it
    const countsOf = (events: NatscopeEvent[]) =>
      events.filter((e) => e.kind === 'counted').map(({ t: _, ...rest }) => rest);
    expect(countsOf(out)).toEqual(countsOf(once));
  });

  test('a gap in a stream is a lost event, reported before the event after it', () => {
    // the capture's drops, the middle flush removed
    const drops = LINES.filter((l) => l.includes('"@drop_a"'));
    const marker = FLUSH[6]!;
    const { out, flush } = run([drops[0]!, marker, drops[2]!, marker]);
    const lostAt = out.findIndex((e) => e.kind === 'lost');
    const removed = Object.keys(JSON.parse(drops[1]!).data['@drop_a']).length;
    expect(out[lostAt]).toMatchObject({ kind: 'lost', probe: 'drop', count: removed, source: 'sequence' });
    expect(out[lostAt + 1]?.kind).toBe('drop');
    expect(flush.summary(0).lost).toBe(removed);
  });

  test("the exit dump's sequence counters settle events that never arrived", () => {
    const seq = LINES.find((l) => l.includes('"@drop_seq"'))!;
    const drops = LINES.filter((l) => l.includes('"@drop_a"'));
    // only the first drop arrives; the counter says 4 were numbered
    const { out, flush } = run([drops[0]!, FLUSH[6]!, '', seq], { stopBefore: 2 });
    expect(out.at(-1)).toMatchObject({ kind: 'lost', probe: 'drop', count: 3, source: 'sequence' });
    expect(flush.summary(0)).toMatchObject({ received: 1, lost: 3 });
  });

  test('unexpected output is reported with its line number, twenty times at most', () => {
    const { out } = run(Array.from({ length: 30 }, () => 'not json'));
    const errors = out.filter((e) => e.kind === 'error');
    expect(errors).toHaveLength(20);
    expect(errors[0]).toMatchObject({ source: 'bpftrace', message: expect.stringMatching(/on line 1 \(not JSON\)/) });
  });

  test("bpftrace's own lost-event reports are passed on and summed", () => {
    const { out, flush } = run(['{"type": "lost_events", "data": {"events": 7}}']);
    expect(out).toEqual([expect.objectContaining({ kind: 'lost', probe: 'all', count: 7, source: 'bpftrace' })]);
    expect(flush.summary(0).lostReportedByBpftrace).toBe(7);
  });

  test("a flush's events, its losses and its counts go out as one batch, an error or bpftrace's loss report alone", () => {
    const drops = LINES.filter((l) => l.includes('"@drop_a"'));
    const counts = FLUSH.slice(3, 6);
    const marker = FLUSH[6]!;
    const lostReport = '{"type": "lost_events", "data": {"events": 2}}';
    // a whole flush; then a flush with a gap (the middle drops removed), a garbage line and a loss report before its marker
    const { out, batches } = run([...FLUSH, drops[0]!, drops[2]!, 'not json', lostReport, ...counts, marker]);
    expect(batches.flat()).toEqual(out);
    expect(batches).toHaveLength(4);
    // the first flush: what it gives alone, all at once
    // (counts carry the reader's clock: compared without it)
    const unclocked = (events: NatscopeEvent[] = []) => events.map((e) => (e.kind === 'counted' ? { ...e, t: 0 } : e));
    expect(unclocked(batches[0])).toEqual(unclocked(run(FLUSH).out));
    expect(batches[1]).toEqual([
      expect.objectContaining({ kind: 'error', message: expect.stringMatching(/not JSON/) }),
    ]);
    expect(batches[2]).toEqual([expect.objectContaining({ kind: 'lost', source: 'bpftrace', count: 2 })]);
    // the second: its drops, the gap before the first after it, then its counts
    const second = batches[3]!;
    expect(second.filter((e) => e.kind === 'lost')).toEqual([
      expect.objectContaining({ source: 'sequence', probe: 'drop' }),
    ]);
    expect(second.findIndex((e) => e.kind === 'lost')).toBeLessThan(second.findLastIndex((e) => e.kind === 'drop'));
    expect(second.findIndex((e) => e.kind === 'counted')).toBeGreaterThan(
      second.findLastIndex((e) => e.kind === 'drop'),
    );
  });

  test('a flush with nothing in it sends no batch', () => {
    const { batches } = run([FLUSH[6]!, FLUSH[6]!, '']);
    expect(batches).toEqual([]);
  });

  // Feeds a capture's lines; returns what the assembler said, in order: the
  // times it passed, and the events it sent with the marker being taken.
  function said(lines: string[]) {
    const out: ({ through: number } | { events: NatscopeEvent[]; closing: BpftraceRecord | null })[] = [];
    let closing: BpftraceRecord | null = null;
    const flush = new FlushAssembler(
      (events) => out.push({ events, closing }),
      undefined,
      (through) => out.push({ through }),
    );
    lines.forEach((line, i) => {
      if (i === lines.indexOf('')) flush.stop();
      const r = record(line);
      closing = r.type === 'flush' ? r : null;
      flush.take(r, i + 1, line);
    });
    flush.end();
    return { said: out, received: flush.summary(0).received };
  }

  // Every kernel event sent after a `through` happened after it, by the kernel's own times; returns how many were checked.
  function eventsAfterThroughs(out: ReturnType<typeof said>['said']): number {
    let passed = Number.NEGATIVE_INFINITY;
    let checked = 0;
    for (const s of out) {
      if ('through' in s) passed = s.through;
      else
        for (const e of kernel(s.events)) {
          expect(e.t).toBeGreaterThan(passed);
          checked++;
        }
    }
    return checked;
  }

  // Every count sent carries `stamp` of the marker that closed its flush; returns how many were checked.
  function countsStamped(
    out: ReturnType<typeof said>['said'],
    stamp: (marker: Extract<BpftraceRecord, { type: 'flush' }>) => number | null,
  ): number {
    let counts = 0;
    for (const s of out)
      if ('events' in s)
        for (const e of s.events)
          if (e.kind === 'counted') {
            expect(s.closing?.type === 'flush' ? stamp(s.closing) : null).toBe(e.t);
            counts++;
          }
    return counts;
  }

  test("after each flush marker it says that flush's hand-over time, and every event still to come happened after it (a real capture)", () => {
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const markers = lines.flatMap((l) => {
      const r = record(l);
      return r.type === 'flush' ? [r] : [];
    });
    const { said: out, received } = said(lines);
    const throughs = out.flatMap((s) => ('through' in s ? [s.through] : []));
    expect(markers.length).toBeGreaterThanOrEqual(10);
    expect(throughs).toEqual(markers.map((m) => m.handedAt));
    const checked = eventsAfterThroughs(out);
    expect(checked).toBe(received);
    expect(checked).toBeGreaterThan(100);
    for (const s of out)
      if ('events' in s) expect(s.events.map((e) => e.t)).toEqual(s.events.map((e) => e.t).sort((a, b) => a - b));
    // the marker's own tick would be too late to say: events of the next flush came before it
    let beforeTick = 0;
    let tick = Number.NEGATIVE_INFINITY;
    for (const s of out) {
      if ('events' in s) for (const e of kernel(s.events)) if (e.t < tick) beforeTick++;
      if ('events' in s && s.closing?.type === 'flush') tick = s.closing.at ?? tick;
    }
    expect(beforeTick).toBeGreaterThan(10);
    // each flush's counts carry the hand-over of the marker that closed it (the kernel counted them before it)
    expect(countsStamped(out, (m) => m.handedAt)).toBeGreaterThan(3);
  });

  test("an older recording's markers, with their tick's time alone, say the previous marker's time; without a time, nothing", () => {
    const lines = fixtureText('bpftrace', 'drop-flush-times.jsonl').split('\n');
    const markers = lines.flatMap((l) => {
      const r = record(l);
      return r.type === 'flush' && r.at !== null ? [r.at] : [];
    });
    const { said: out, received } = said(lines);
    const throughs = out.flatMap((s) => ('through' in s ? [s.through] : []));
    expect(markers.length).toBeGreaterThanOrEqual(10);
    expect(throughs).toEqual(markers.slice(0, -1));
    const checked = eventsAfterThroughs(out);
    expect(checked).toBe(received);
    expect(checked).toBeGreaterThan(100);
    // counts carry the tick of the marker that closed them
    expect(countsStamped(out, (m) => m.at)).toBeGreaterThan(3);
    // a recording whose markers carry no time says nothing
    const old = new FlushAssembler(
      () => undefined,
      undefined,
      () => {
        throw new Error('a marker without a time passed one');
      },
    );
    for (const [i, l] of LINES.entries()) old.take(record(l), i + 1, l);
    expect(old.flushes).toBeGreaterThan(3);
  });

  test('after bpftrace reports output lost (a print and clear may be among it), the next two markers pass nothing on', () => {
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const markerLines = lines.flatMap((l, i) => (l.includes('"natscope-flush ') ? [i] : []));
    const handOver = (i: number) => Number(/natscope-flush \d+ (\d+)/.exec(lines[markerLines[i]!]!)![1]);
    // bpftrace's report, as it prints one, after the third marker
    const withLoss = [
      ...lines.slice(0, markerLines[2]! + 1),
      '{"type": "lost_events", "data": {"events": 3}}',
      ...lines.slice(markerLines[2]! + 1),
    ];
    const throughs: number[] = [];
    const flush = new FlushAssembler(
      () => undefined,
      undefined,
      (t) => throughs.push(t),
    );
    for (const [i, l] of withLoss.entries()) flush.take(record(l), i + 1, l);
    const all = markerLines.map((_, i) => handOver(i));
    // markers 4 and 5 (indices 3, 4) say nothing; marker 6 says its own hand-over again
    expect(throughs).toEqual([...all.slice(0, 3), ...all.slice(5)]);
  });

  test("a buffer's print and clear lost: its events come two flushes on, and nothing said it was past them", () => {
    // the capture as bpftrace would print it had it lost the first @drop_b print and its clear:
    // the report in its place, and its events printed again with the buffer's next print
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const drops = lines.flatMap((l, i) => (l.startsWith('{"type": "map", "data": {"@drop_b": {') ? [i] : []));
    const [first, next] = [drops[0]!, drops[1]!];
    const entries = (l: string) => l.slice(l.indexOf('{"@drop_b": {') + 13, l.lastIndexOf('}}}'));
    const edited = lines.map((l, i) =>
      i === first
        ? '{"type": "lost_events", "data": {"events": 2}}'
        : i === next
          ? `{"type": "map", "data": {"@drop_b": {${entries(lines[first]!)}, ${entries(l)}}}}`
          : l,
    );
    let passed = Number.NEGATIVE_INFINITY;
    let checked = 0;
    const flush = new FlushAssembler(
      (events) => {
        for (const e of kernel(events)) {
          expect(e.t).toBeGreaterThan(passed);
          checked++;
        }
      },
      undefined,
      (t) => {
        passed = t;
      },
    );
    for (const [i, l] of edited.entries()) {
      if (i === edited.indexOf('')) flush.stop();
      flush.take(record(l), i + 1, l);
    }
    flush.end();
    // every event arrived, none counted lost
    expect(checked).toBe(said(lines).received);
    expect(checked).toBeGreaterThan(100);
    expect(flush.summary(0).lost).toBe(0);
  });

  test("a flush's counts go among its events at their hand-over's time: an event a probe wrote just after the hand-over stays after them", () => {
    // the capture as bpftrace would print it had the probe that wrote a flush's last event
    // chosen its buffer just before the hand-over and read its time just after
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const counts = lines.findIndex((l) => l.includes('"@drop_over_a"'));
    const buffer = counts - 1;
    const handedAt = Number(/natscope-flush \d+ (\d+)/.exec(lines[counts + 1]!)![1]);
    expect(lines[buffer]).toContain('"@drop_a"');
    const times = [...lines[buffer]!.matchAll(/\[(\d+),/g)].map((m) => m[1]!);
    const edited = lines.map((l, i) => (i === buffer ? l.replace(`[${times.at(-1)},`, `[${handedAt + 1000},`) : l));
    const batches: NatscopeEvent[][] = [];
    const flush = new FlushAssembler((events) => batches.push(events));
    for (const [i, l] of edited.slice(0, counts + 2).entries()) flush.take(record(l), i + 1, l);
    const batch = batches.at(-1)!;
    expect(batch.map((e) => e.t)).toEqual(batch.map((e) => e.t).sort((a, b) => a - b));
    const kinds = batch.map((e) => e.kind);
    expect(kinds.slice(-2)).toEqual(['counted', 'drop']);
    expect(kinds.filter((k) => k === 'drop')).toHaveLength(times.length);
  });

  test("a marker whose hand-over cannot be still ends its flush, says only the marker before's tick, and is reported", () => {
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const markerLines = lines.flatMap((l, i) => (l.includes('"natscope-flush ') ? [i] : []));
    const tick = (i: number) => Number(/natscope-flush (\d+)/.exec(lines[markerLines[i]!]!)![1]);
    const handOver = (i: number) => Number(/natscope-flush \d+ (\d+)/.exec(lines[markerLines[i]!]!)![1]);
    // the fourth marker with its hand-over after its tick
    const edited = lines.map((l, i) =>
      i === markerLines[3] ? `{"type": "printf", "data": "natscope-flush ${tick(3)} ${tick(3) + 1}\\n"}` : l,
    );
    const throughs: number[] = [];
    const out: NatscopeEvent[] = [];
    const flush = new FlushAssembler(
      (events) => out.push(...events),
      undefined,
      (t) => throughs.push(t),
    );
    for (const [i, l] of edited.entries()) flush.take(record(l), i + 1, l);
    const all = markerLines.map((_, i) => handOver(i));
    expect(throughs).toEqual([...all.slice(0, 3), tick(2), ...all.slice(4)]);
    expect(flush.flushes).toBe(markerLines.length);
    expect(out.filter((e) => e.kind === 'error')).toEqual([
      expect.objectContaining({
        message: expect.stringContaining(`line ${markerLines[3]! + 1} (flush marker hand-over is not before its tick)`),
      }),
    ]);
  });

  test('counts no timed marker closes (bpftrace stopped before it) keep the time they were read', () => {
    const lines = fixtureText('bpftrace', 'drop-flush-handover.jsonl').split('\n');
    const firstCounts = lines.findIndex((l) => l.includes('"@drop_over_'));
    const out: NatscopeEvent[] = [];
    const flush = new FlushAssembler(
      (events) => out.push(...events),
      () => 42,
    );
    const taken = [...lines.slice(0, firstCounts + 1), '', ''];
    for (const [i, l] of taken.entries()) {
      if (i === firstCounts + 1) flush.stop();
      // counts are stamped when parsed, with the reader's clock
      flush.take(parseBpftraceLine(l, { ...ctx, now: () => 42 }), i + 1, l);
    }
    flush.end();
    const counted = out.filter((e) => e.kind === 'counted');
    expect(counted.length).toBeGreaterThan(0);
    for (const e of counted) expect(e.t).toBe(42);
  });
});
