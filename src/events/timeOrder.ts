// Puts a recording's events in time order. A recording is written in the
// order events arrived, which is not quite the order they happened: the
// probes hand their events over in batches (a flush every few hundred ms), so
// a request's outcome can arrive before the kernel events of that request;
// the real recordings hold events up to 0.55 s early. Shown as they came,
// times would go backwards and flows would split. So events are sorted
// within a window of REORDER_WINDOW_NS: an event is let out once one more
// than the window later has been read (or the input ends, or goes quiet).
// An event that comes later than the window allows (a hand-edited file, two
// recordings joined) cannot be put in place: it is shown after what was read
// before it, with a warning naming its line, and sorting starts again from it.

import type { NatscopeEvent } from './types.js';

export const REORDER_WINDOW_NS = 2e9;
// out-of-order lines reported one by one; the rest are counted
const WARNINGS = 5;

export interface NumberedEvent {
  event: NatscopeEvent;
  lineNo: number;
}

export interface TimeOrderOptions {
  // where warnings go (stderr, the TUI's log)
  onWarning?: (message: string) => void;
  // for a source read as it is written (a pipe): let everything out after this long without input
  idleMs?: number;
}

// A binary min-heap by time, then line: equal times keep their file order.
class EventHeap {
  private readonly items: NumberedEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): NumberedEvent | undefined {
    return this.items[0];
  }

  push(item: NumberedEvent): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): NumberedEvent | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let least = i;
        if (l < a.length && before(a[l]!, a[least]!)) least = l;
        if (r < a.length && before(a[r]!, a[least]!)) least = r;
        if (least === i) break;
        [a[i], a[least]] = [a[least]!, a[i]!];
        i = least;
      }
    }
    return top;
  }
}

function before(x: NumberedEvent, y: NumberedEvent): boolean {
  return x.event.t < y.event.t || (x.event.t === y.event.t && x.lineNo < y.lineNo);
}

export async function* inTimeOrder(
  items: AsyncIterable<NumberedEvent>,
  name: string,
  options: TimeOrderOptions = {},
): AsyncGenerator<NatscopeEvent> {
  const heap = new EventHeap();
  let newest = Number.NEGATIVE_INFINITY;
  // the last event let out: nothing earlier can follow it any more
  let lastOut: NumberedEvent | null = null;
  let late = 0;
  const iterator = items[Symbol.asyncIterator]();
  let pending: Promise<IteratorResult<NumberedEvent>> | null = null;
  try {
    for (;;) {
      pending ??= iterator.next();
      let next: IteratorResult<NumberedEvent> | 'quiet';
      try {
        next = heap.size > 0 && options.idleMs !== undefined ? await quietFor(pending, options.idleMs) : await pending;
      } catch (error) {
        // a bad line: what was read before it is shown first, then the error
        for (let item = heap.pop(); item; item = heap.pop()) yield item.event;
        throw error;
      }
      if (next === 'quiet') {
        // a pipe that pauses: what was read is shown now rather than held
        for (let item = heap.pop(); item; item = heap.pop()) {
          lastOut = item;
          yield item.event;
        }
        continue;
      }
      pending = null;
      if (next.done) break;
      const item = next.value;
      if (lastOut !== null && item.event.t < lastOut.event.t) {
        // too late to sort in: what was read before it is shown first, and
        // sorting starts again from it (a second recording joined on, say)
        for (let held = heap.pop(); held; held = heap.pop()) {
          lastOut = held;
          yield held.event;
        }
        late++;
        if (late <= WARNINGS) {
          const back = (lastOut.event.t - item.event.t) / 1e9;
          options.onWarning?.(
            `${name}: line ${item.lineNo} is out of time order (${back.toFixed(3)} s earlier than line ${lastOut.lineNo}, shown already): natscope sorts events only within ${REORDER_WINDOW_NS / 1e9} s`,
          );
        }
        lastOut = null;
        newest = item.event.t;
        heap.push(item);
        continue;
      }
      heap.push(item);
      if (item.event.t > newest) newest = item.event.t;
      for (let top = heap.peek(); top && top.event.t <= newest - REORDER_WINDOW_NS; top = heap.peek()) {
        heap.pop();
        lastOut = top;
        yield top.event;
      }
    }
    for (let item = heap.pop(); item; item = heap.pop()) yield item.event;
    if (late > WARNINGS) options.onWarning?.(`${name}: ${late - WARNINGS} more line(s) out of time order`);
  } finally {
    // a consumer that stops early closes the source (not awaited: a pipe's read may be pending)
    iterator.return?.()?.catch(() => undefined);
  }
}

// The next item, or 'quiet' if none arrives within `ms`.
async function quietFor<T>(next: Promise<T>, ms: number): Promise<T | 'quiet'> {
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<'quiet'>((resolve) => {
    timer = setTimeout(() => resolve('quiet'), ms);
  });
  try {
    return await Promise.race([next, quiet]);
  } finally {
    clearTimeout(timer);
  }
}
