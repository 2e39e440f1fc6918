// Several nodes' events into one stream in time order. Each node's events
// arrive in flushes (ten a second), each flush in time order, but the
// nodes' flushes interleave as the network delivers them. A node that says
// how far it has got (a source's `through`: each bpftrace flush marker
// carries its hand-over's time, src/tracer/flush.ts) lets an event go as
// soon as every node still open has passed its time: about a flush
// interval after it happened (each node's next hand-over after it, printed
// a tick later). Otherwise, or when a node goes quiet (a stalled
// `kubectl exec`), an event is held for a short window after it arrives,
// and events leave in time order once their window has passed. One that
// arrives later than that (a node far behind) goes out at once, out of
// order, and is counted.

export interface MergeOptions {
  // how long an event is held after it arrives (ms): more than a flush interval
  windowMs?: number;
  now?: () => number;
}

// One node's stream into the merge.
export interface MergeSource<E> {
  // a flush's events, in time order (the merge keeps the array)
  push(events: E[]): void;
  // every event this source will still push happened after `t`
  through(t: number): void;
  // this source has ended: the others no longer wait for it
  end(): void;
}

export class TimeOrderedMerge<E extends { t: number }> {
  // events held, as runs: a run is a batch that arrived at once, or a part
  // of one, in time order. A binary heap of runs by their next event's time,
  // then by arrival (events of the same time leave in the order they came):
  // an event costs a step along its run, and a heap step among the few runs
  // held (a node's flushes of the last window), however many events are held.
  private readonly runs: Run<E>[] = [];
  // each run's latest time, in order of arrival: windows pass in that order
  private arrivals: { t: number; arrived: number }[] = [];
  // the first arrival whose window has not passed yet
  private waiting = 0;
  private pushed = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastOut = Number.NEGATIVE_INFINITY;
  // events that arrived after a later one had left
  late = 0;
  // each open source's `through` (-Infinity until it says one)
  private readonly throughs = new Map<number, number>();
  private sources = 0;
  // the least of them: every open source has passed it (-Infinity: no source
  // yet, or one that has not said; Infinity: every source has ended)
  private passed = Number.NEGATIVE_INFINITY;
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(
    private readonly emit: (event: E) => void,
    options: MergeOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 300;
    this.now = options.now ?? (() => performance.now());
  }

  push(event: E): void {
    this.pushBatch([event]);
  }

  // A stream that says how far it has got: the merge waits for it, by its `through`, until it ends.
  source(): MergeSource<E> {
    const id = this.sources++;
    this.throughs.set(id, Number.NEGATIVE_INFINITY);
    this.passed = Number.NEGATIVE_INFINITY;
    return {
      push: (events) => this.pushBatch(events),
      through: (t) => {
        const before = this.throughs.get(id);
        // an ended source stays ended; a source's time only goes forward
        if (before === undefined || t <= before) return;
        this.throughs.set(id, t);
        if (before === this.passed) this.advance();
      },
      end: () => {
        if (this.throughs.delete(id)) this.advance();
      },
    };
  }

  // The sources' least `through` again; what it lets go, out now. Only
  // source() lowers it (a new source has said nothing yet).
  private advance(): void {
    // Infinity once every source has ended: none is left to wait for
    let least = Number.POSITIVE_INFINITY;
    for (const t of this.throughs.values()) least = Math.min(least, t);
    if (least <= this.passed) return;
    this.passed = least;
    this.release(false);
  }

  // Events that arrived together (a node's flush), in the order they came:
  // the same as pushing each in turn at this moment, with one clock read.
  // The merge keeps the array: the caller must not change it afterwards.
  pushBatch(events: E[]): void {
    const lastOut = this.lastOut;
    let held = events;
    for (let i = 0; i < events.length; i++) {
      if (events[i]!.t >= lastOut) continue;
      // late ones go out now, in their order; the others are held
      held = events.slice(0, i);
      for (let j = i; j < events.length; j++) {
        const event = events[j]!;
        if (event.t < lastOut) {
          this.late++;
          this.emit(event);
        } else held.push(event);
      }
      break;
    }
    if (held.length === 0) return;
    const arrived = this.now();
    // cut where time goes back: each run in time order
    let from = 0;
    for (let i = 1; i <= held.length; i++) {
      if (i < held.length && held[i]!.t >= held[i - 1]!.t) continue;
      const events = from === 0 && i === held.length ? held : held.slice(from, i);
      heapPush(this.runs, { events, next: 0, order: this.pushed++ });
      this.arrivals.push({ t: events[events.length - 1]!.t, arrived });
      from = i;
    }
    this.timer ??= setInterval(() => this.release(false), Math.max(10, this.windowMs / 4));
  }

  // Sends out what has been held long enough (everything with `all`), in
  // time order: every held event up to the latest time among those whose
  // window has passed, or up to the time every open source has passed.
  release(all: boolean): void {
    if (this.runs.length === 0) return;
    const cutoff = all ? Number.POSITIVE_INFINITY : this.now() - this.windowMs;
    let upTo = this.passed;
    while (this.waiting < this.arrivals.length && this.arrivals[this.waiting]!.arrived <= cutoff) {
      upTo = Math.max(upTo, this.arrivals[this.waiting]!.t);
      this.waiting++;
    }
    // the arrivals already passed are not needed again
    if (this.waiting > 4096 && this.waiting * 2 > this.arrivals.length) {
      this.arrivals = this.arrivals.slice(this.waiting);
      this.waiting = 0;
    }
    if (all) upTo = Number.POSITIVE_INFINITY;
    if (upTo === Number.NEGATIVE_INFINITY) return;
    const runs = this.runs;
    while (runs.length > 0) {
      const run = runs[0]!;
      const event = run.events[run.next]!;
      if (event.t > upTo) break;
      run.next++;
      // the heap in order again before the event goes out
      if (run.next === run.events.length) heapPop(runs);
      else siftDown(runs, 0);
      this.lastOut = Math.max(this.lastOut, event.t);
      this.emit(event);
    }
  }

  // Sends out everything held and stops the timer.
  close(): void {
    this.release(true);
    this.arrivals = [];
    this.waiting = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

interface Run<E extends { t: number }> {
  // in time order; those before `next` have left
  events: E[];
  next: number;
  // arrival order, for events of the same time (a later run's events all came after an earlier one's)
  order: number;
}

const before = <E extends { t: number }>(a: Run<E>, b: Run<E>) => {
  const at = a.events[a.next]!.t;
  const bt = b.events[b.next]!.t;
  return at < bt || (at === bt && a.order < b.order);
};

function heapPush<E extends { t: number }>(heap: Run<E>[], item: Run<E>): void {
  let i = heap.push(item) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function heapPop<E extends { t: number }>(heap: Run<E>[]): void {
  const last = heap.pop()!;
  if (heap.length === 0) return;
  heap[0] = last;
  siftDown(heap, 0);
}

function siftDown<E extends { t: number }>(heap: Run<E>[], from: number): void {
  for (let i = from; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let least = i;
    if (l < heap.length && before(heap[l]!, heap[least]!)) least = l;
    if (r < heap.length && before(heap[r]!, heap[least]!)) least = r;
    if (least === i) return;
    [heap[i], heap[least]] = [heap[least]!, heap[i]!];
    i = least;
  }
}
