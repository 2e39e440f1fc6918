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
  private held: { event: E; arrived: number }[] = [];
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
    this.held.push({ event, arrived: this.now() });
    this.timer ??= setInterval(() => this.release(false), Math.max(10, this.windowMs / 4));
  }

  // Sends out what has been held long enough (everything with `all`), in time order.
  release(all: boolean): void {
    if (this.held.length === 0) return;
    const cutoff = this.now() - this.windowMs;
    // the latest time among events held long enough: every held event up to it goes, in order
    let upTo = Number.NEGATIVE_INFINITY;
    for (const h of this.held) if (all || h.arrived <= cutoff) upTo = Math.max(upTo, h.event.t);
    if (upTo === Number.NEGATIVE_INFINITY) return;
    const out = this.held.filter((h) => h.event.t <= upTo).sort((a, b) => a.event.t - b.event.t);
    this.held = this.held.filter((h) => h.event.t > upTo);
    for (const h of out) this.emit(h.event);
    this.lastOut = Math.max(this.lastOut, upTo);
  }

  // Sends out everything held and stops the timer.
  close(): void {
    this.release(true);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
