// Plays a recording into the app at its recorded pace (× speed). Unlike
// the pacing in src/events/sources.ts this one can pause: time spent paused
// is added to the schedule, so resuming does not dump the skipped stretch
// at once.

import { setTimeout as sleep } from 'node:timers/promises';
import type { NatscopeEvent } from '../src/events/types.js';

// a recording's idle stretches longer than this are cut short
const MAX_GAP_MS = 2000;

export class Pacer {
  private t0: number | null = null;
  private start = 0;
  // paused time and cut gaps, added to the schedule
  private shift = 0;

  constructor(
    private readonly speed: number,
    // resolves when the app takes events (not paused, room in its queue)
    private readonly gate: () => Promise<void>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async due(t: number, signal?: AbortSignal): Promise<void> {
    const before = this.now();
    await this.gate();
    this.shift += this.now() - before;
    if (this.speed <= 0) return;
    if (this.t0 === null) {
      this.t0 = t;
      this.start = this.now();
      return;
    }
    let wait = this.start + this.shift + (t - this.t0) / 1e6 / this.speed - this.now();
    if (wait > MAX_GAP_MS) {
      this.shift -= wait - MAX_GAP_MS;
      wait = MAX_GAP_MS;
    }
    if (wait > 1) await sleep(wait, undefined, { signal }).catch(() => undefined);
  }
}

export interface PlayTarget {
  push(event: NatscopeEvent): void;
  ready(): Promise<void>;
}

// Pushes every event of `events` (after `first`) into the target; returns when the recording ends.
export async function play(
  target: PlayTarget,
  first: NatscopeEvent,
  rest: AsyncIterator<NatscopeEvent>,
  speed: number,
  signal: AbortSignal,
): Promise<void> {
  const pacer = new Pacer(speed, () => target.ready());
  let event = first;
  for (;;) {
    await pacer.due(event.t, signal);
    if (signal.aborted) return;
    target.push(event);
    const next = await rest.next();
    if (next.done) return;
    event = next.value;
  }
}
