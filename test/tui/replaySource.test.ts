import { describe, expect, it } from 'vitest';
import type { NatscopeEvent } from '../../src/events/types.js';
import { Pacer, play } from '../../tui/replaySource.js';
import { incidentEvents } from './fixture.js';

describe('Pacer', () => {
  it('spaces events as recorded, divided by the speed', async () => {
    const pacer = new Pacer(10, async () => undefined);
    const start = performance.now();
    await pacer.due(0);
    await pacer.due(500e6); // 500 ms later in the recording: 50 ms at 10×
    expect(performance.now() - start).toBeGreaterThanOrEqual(45);
    expect(performance.now() - start).toBeLessThan(400);
  });

  it('adds time spent paused to the schedule instead of catching up at once', async () => {
    let clock = 0;
    let release: () => void = () => undefined;
    let paused = false;
    const gate = () => (paused ? new Promise<void>((r) => (release = r)) : Promise.resolve());
    const pacer = new Pacer(1, gate, () => clock);
    await pacer.due(0);
    paused = true;
    const next = pacer.due(1e6); // due 1 ms after the first
    clock = 10_000; // ten seconds paused
    paused = false;
    release();
    const before = clock;
    await next;
    // resumed on schedule: the 1 ms gap is still ahead, not 10 s behind
    expect(clock).toBe(before);
    expect((pacer as unknown as { shift: number }).shift).toBe(10_000);
  });

  it('does not wait at speed 0', async () => {
    const pacer = new Pacer(0, async () => undefined);
    const start = performance.now();
    await pacer.due(0);
    await pacer.due(3600e9);
    expect(performance.now() - start).toBeLessThan(50);
  });
});

describe('play', () => {
  it('pushes every event of a recording in order, waiting for the target to be ready', async () => {
    const events = incidentEvents();
    const got: NatscopeEvent[] = [];
    let readyCalls = 0;
    async function* rest() {
      yield* events.slice(1);
    }
    await play(
      { push: (e) => got.push(e), ready: async () => void readyCalls++ },
      events[0]!,
      rest(),
      0,
      new AbortController().signal,
    );
    expect(got).toEqual(events);
    expect(readyCalls).toBe(events.length);
  });

  it('stops when aborted', async () => {
    const events = incidentEvents();
    const abort = new AbortController();
    const got: NatscopeEvent[] = [];
    async function* rest() {
      yield* events.slice(1);
    }
    await play(
      {
        push: (e) => {
          got.push(e);
          if (got.length === 3) abort.abort();
        },
        ready: async () => undefined,
      },
      events[0]!,
      rest(),
      0,
      abort.signal,
    );
    expect(got).toHaveLength(3);
  });
});
