// Plays a recording into the app at its recorded pace (× speed). Unlike
// the pacing in src/events/sources.ts this one can pause: time spent paused
// is added to the schedule, so resuming does not dump the skipped stretch
// at once. The recording is opened, and its first event read, before the
// screen opens, so a missing, unreadable, empty or broken file is reported
// on the ordinary terminal.

import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../src/errors.js';
import { openRecordingSource, readRecording } from '../src/events/sources.js';
import type { NatscopeEvent } from '../src/events/types.js';

export interface OpenedReplay {
  first: NatscopeEvent;
  rest: AsyncGenerator<NatscopeEvent>;
  // where warnings about the recording go once the screen is up (those before wait for it)
  onWarning(sink: (message: string) => void): void;
  close(): void;
}

export async function openReplay(file: string): Promise<OpenedReplay> {
  if (file === '-')
    throw new NatscopeError('the TUI reads its keys from standard input, so it cannot replay a recording from there', {
      hint: 'give it the file, or a pipe: natscope tui --replay <(zcat run.jsonl.gz)',
      exitCode: 2,
    });
  const source = await openRecordingSource(file);
  const early: string[] = [];
  let sink = (message: string) => {
    early.push(message);
  };
  const rest = readRecording(source, { onWarning: (message) => sink(message) });
  try {
    const first = await rest.next();
    // decoding refuses a recording without events, so this is only a guard
    if (first.done) throw new NatscopeError(`${source.name} holds no events`);
    return {
      first: first.value,
      rest,
      onWarning(next) {
        sink = next;
        for (const message of early.splice(0)) next(message);
      },
      close: () => source.close(),
    };
  } catch (error) {
    source.close();
    throw error;
  }
}

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
