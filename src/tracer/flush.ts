// bpftrace's output records in, natscope's events out: the logic between
// parsing a line and emitting its events, kept free of processes and
// timers so it can be tested as data (test/tracer/flush.test.ts).
//
// The probes batch events in kernel maps (probes/nat.bt, "Output"). A
// flush prints each probe's buffer, then the counts of events past the
// detail budget, then the composed program's marker. At the marker the
// flush's events go out in time order, each counted once against the
// probes' sequence numbers (a gap is a lost event; a buffer printed before
// bpftrace stopped and again in its exit dump is seen twice, and its
// events are counted once), its counts among them at their time: all of
// it in one batch, in time order, so
// what follows pays its per-call costs once a flush, not once an event
// (thousands of events a flush). When bpftrace stops it dumps
// every map: buffers not yet printed, and the final sequence counters,
// which settle the loss of events that never arrived.
//
// Each marker carries its tick's kernel time and the hand-over's before it
// (src/tracer/streams.ts, FLUSH_MARKER): every event still to come happened
// after that hand-over. `onThrough` hears that time: a merge of several
// nodes lets an event go as soon as every node has passed it, instead of
// holding it for a fixed window. A recording made before markers carried
// the hand-over has the tick's time alone: a flush there holds the events
// up to the hand-over tick just before the marker's, which came after the
// previous marker's tick, so what `onThrough` hears is the previous
// marker's time, a flush later.
// Output bpftrace reports lost may have been a buffer's print and clear,
// which leaves older events for that buffer's next print, two flushes on
// (the two buffers take turns): after such a report the next two markers
// pass nothing on. A flush's counts are stamped with its hand-over's time
// (the kernel counted them before it, on the same clock as its events; a
// probe that chose its buffer just before may add one just after), or
// without one with its marker's, not with when natscope read them.

import { z } from 'zod';
import { count } from '../events/fields.js';
import { base, type CountedEvent, monotonicNs, type NatscopeEvent } from '../events/types.js';
import { LossCounter } from './loss.js';
import type { BpftraceRecord, ProbeEvent, ProbeFamily, StreamName } from './parse.js';

// What a tracer saw, once bpftrace has ended (an agent's reply to untrace).
export const TracerSummarySchema = z.object({
  exitCode: z.number().int().nullable(),
  // the signal that ended bpftrace, if one did
  signal: z.string().nullable(),
  received: count,
  lost: count,
  lostReportedByBpftrace: count,
  // events past the detail budget, counted in the kernel instead of reported
  counted: count,
  perProbe: z.array(z.object({ probe: z.string(), received: count, lost: count })),
});
export type TracerSummary = z.infer<typeof TracerSummarySchema>;

// Lines of unexpected output reported as errors; past this, they are only counted.
const GARBAGE_REPORTED = 20;

export class FlushAssembler {
  private readonly loss = new LossCounter();
  private lostByBpftrace = 0;
  // natscope has signalled bpftrace: the blank lines that follow start its exit dump
  private stopping = false;
  // inside the exit dump: map prints from here on are final
  private exiting = false;
  private readonly finalSequences = new Map<
    string,
    { probe: ProbeFamily; stream: StreamName; perCpu: Map<number, number> }
  >();
  // the events of the flush being read, a parsed line's at a time, until its marker; and its counts
  private flushing: ProbeEvent[][] = [];
  private readonly counted: CountedEvent[] = [];
  private countedTotal = 0;
  // Count maps printed since the last flush marker: if bpftrace stops before
  // the marker, their clears may not have run, and the exit dump would show
  // the same counts again (events are told apart by their sequence numbers;
  // counts cannot be, so the second copy is left out: at worst the counts of
  // a probe that raced the hand-over are missed).
  private readonly countsSinceMarker = new Set<string>();
  private garbageSeen = 0;
  // flush markers read so far
  flushes = 0;
  // the tick time of the last marker read (null: none yet, or it had no time)
  private lastMarkerAt: number | null = null;
  // markers still to pass nothing on, after bpftrace reported lost output
  private quietMarkers = 0;

  // `emit` gets events in the order they go out: a flush's in one array (the
  // receiver may keep it), an error or a bpftrace loss report alone.
  constructor(
    private readonly emit: (events: NatscopeEvent[]) => void,
    // the clock natscope's own stamps read (ParseContext.now)
    private readonly now: () => number = monotonicNs,
    // after a flush's events: every kernel event still to come happened after this time (the kernel's clock)
    private readonly onThrough?: (ns: number) => void,
  ) {}

  // natscope is about to signal bpftrace: what follows its next blank line is the exit dump.
  stop(): void {
    this.stopping = true;
  }

  // One parsed output line (`lineNo` and `line` name it in errors).
  take(record: BpftraceRecord, lineNo: number, line: string): void {
    switch (record.type) {
      case 'batch':
        if (record.events.length > 0) this.flushing.push(record.events);
        break;
      case 'counted':
        if (this.exiting && this.countsSinceMarker.has(record.map)) break;
        if (!this.exiting) this.countsSinceMarker.add(record.map);
        for (const e of record.events) this.counted.push(e);
        break;
      case 'flush': {
        if (record.unusable) this.garbage(record.unusable, lineNo, line);
        this.release(record.handedAt ?? record.at);
        this.countsSinceMarker.clear();
        this.flushes++;
        // an older recording's marker says it a flush later: the previous marker's tick
        const through = record.handedAt ?? (record.at === null ? null : this.lastMarkerAt);
        if (this.quietMarkers > 0) this.quietMarkers--;
        else if (through !== null) this.onThrough?.(through);
        this.lastMarkerAt = record.at;
        break;
      }
      case 'sequence':
        if (this.exiting) this.finalSequences.set(record.stream, record);
        break;
      case 'lost':
        this.lostByBpftrace += record.count;
        // a lost print and clear leave older events for that buffer's next print, two markers on
        this.quietMarkers = 2;
        this.emit([
          { ...base('lost', 'natscope', 0, this.now()), probe: 'all', count: record.count, source: 'bpftrace' },
        ]);
        break;
      case 'blank':
        this.release();
        if (this.stopping) this.exiting = true;
        break;
      case 'garbage':
        this.garbage(record.reason, lineNo, line);
        break;
      default:
        break;
    }
  }

  // bpftrace's output ended: what it held goes out (its exit dump has no
  // marker), and the final sequence counters settle the loss.
  end(): void {
    this.release();
    for (const { probe, stream, perCpu } of this.finalSequences.values()) {
      const tail = this.loss.settle(probe, stream, perCpu);
      if (tail > 0) this.emit([{ ...base('lost', 'natscope', 0, this.now()), probe, count: tail, source: 'sequence' }]);
    }
    this.finalSequences.clear();
  }

  private garbage(reason: string, lineNo: number, line: string): void {
    if (this.garbageSeen++ < GARBAGE_REPORTED)
      this.error(`unexpected bpftrace output on line ${lineNo} (${reason}): ${line.slice(0, 120)}`);
  }

  error(message: string): void {
    this.emit([{ ...base('error', 'natscope', 0, this.now()), message, source: 'bpftrace' }]);
  }

  summary(exitCode: number | null): Omit<TracerSummary, 'signal'> {
    return {
      exitCode,
      received: this.loss.received(),
      lost: this.loss.lost(),
      lostReportedByBpftrace: this.lostByBpftrace,
      counted: this.countedTotal,
      perProbe: this.loss.summary(),
    };
  }

  // `at`: the time the flush marker stamps its counts with, if it had one
  private release(at: number | null = null): void {
    if (this.flushing.length === 0 && this.counted.length === 0) return;
    // one array of the flush's events (the parser's own, when it printed one buffer)
    const [first = [], ...rest] = this.flushing;
    const flushing = rest.length === 0 ? first : first.concat(...rest);
    this.flushing = [];
    const out: NatscopeEvent[] = [];
    flushing.sort(byTime);
    for (const { probe, stream, cpu, seq, event } of flushing) {
      const gap = this.loss.observe(probe, stream, cpu, seq);
      if (gap === null) continue;
      if (gap > 0) out.push({ ...base('lost', 'natscope', 0, event.t), probe, count: gap, source: 'sequence' });
      out.push(event);
    }
    // the counts go at their time: a probe that chose its buffer just before
    // the hand-over may have written an event after it, into this flush
    let countsAt = out.length;
    if (at !== null) while (countsAt > 0 && out[countsAt - 1]!.t > at) countsAt--;
    for (const event of this.counted) {
      this.countedTotal += event.count;
      // the parser's own new object, handed over
      if (at !== null) event.t = at;
    }
    if (this.counted.length > 0) out.splice(countsAt, 0, ...this.counted);
    this.counted.length = 0;
    if (out.length > 0) this.emit(out);
  }
}

const byTime = (a: ProbeEvent, b: ProbeEvent) => a.event.t - b.event.t;
