// Several nodes' events into one stream in time order. Each node's events
// arrive in flushes (ten a second), each flush in time order, but the
// nodes' flushes interleave as the network delivers them: an event is held
// for a short window after it arrives, and events leave in time order once
// their window has passed. One that arrives later than the window allows
// (a node far behind) goes out at once, out of order, and is counted.

export interface MergeOptions {
  // how long an event is held after it arrives (ms): more than a flush interval
  windowMs?: number;
  now?: () => number;
}

export class TimeOrderedMerge<E extends { t: number }> {
  // events held, earliest first: a binary heap by time, then by arrival
  // (events of the same time leave in the order they came)
  private readonly heap: Held<E>[] = [];
  // each held event's time, in order of arrival: windows pass in that order
  private arrivals: { t: number; arrived: number }[] = [];
  // the first arrival whose window has not passed yet
  private waiting = 0;
  private pushed = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastOut = Number.NEGATIVE_INFINITY;
  // events that arrived after a later one had left
  late = 0;
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
    if (event.t < this.lastOut) {
      this.late++;
      this.emit(event);
      return;
    }
    const arrived = this.now();
    heapPush(this.heap, { event, order: this.pushed++ });
    this.arrivals.push({ t: event.t, arrived });
    this.timer ??= setInterval(() => this.release(false), Math.max(10, this.windowMs / 4));
  }

  // Sends out what has been held long enough (everything with `all`), in
  // time order: every held event up to the latest time among those whose
  // window has passed. Each event costs a heap push and pop, whatever is held.
  release(all: boolean): void {
    if (this.heap.length === 0) return;
    const cutoff = all ? Number.POSITIVE_INFINITY : this.now() - this.windowMs;
    let upTo = Number.NEGATIVE_INFINITY;
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
    while (this.heap.length > 0 && this.heap[0]!.event.t <= upTo) {
      const { event } = heapPop(this.heap);
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

interface Held<E extends { t: number }> {
  event: E;
  // arrival order, for events of the same time
  order: number;
}

const before = <E extends { t: number }>(a: Held<E>, b: Held<E>) =>
  a.event.t < b.event.t || (a.event.t === b.event.t && a.order < b.order);

function heapPush<E extends { t: number }>(heap: Held<E>[], item: Held<E>): void {
  let i = heap.push(item) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i]!, heap[parent]!)) break;
    [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
    i = parent;
  }
}

function heapPop<E extends { t: number }>(heap: Held<E>[]): Held<E> {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length === 0) return top;
  heap[0] = last;
  for (let i = 0; ; ) {
    const l = 2 * i + 1;
    const r = l + 1;
    let least = i;
    if (l < heap.length && before(heap[l]!, heap[least]!)) least = l;
    if (r < heap.length && before(heap[r]!, heap[least]!)) least = r;
    if (least === i) break;
    [heap[i], heap[least]] = [heap[least]!, heap[i]!];
    i = least;
  }
  return top;
}
