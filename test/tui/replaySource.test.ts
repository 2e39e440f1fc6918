import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NatscopeEvent } from '../../src/events/types.js';
import { openReplay, Pacer, play } from '../../tui/replaySource.js';
import { INCIDENT, incidentEvents } from './fixture.js';

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

describe('openReplay', () => {
  const dir = mkdtempSync(join(tmpdir(), 'natscope-tui-replay-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the first event before the screen opens, and hands warnings over once it is up', async () => {
    const lines = readFileSync(INCIDENT, 'utf8').trim().split('\n');
    const path = join(dir, 'late.jsonl');
    writeFileSync(path, `${[...lines, lines[3]!].join('\n')}\n`);
    const opened = await openReplay(path);
    expect(opened.first.kind).toBe('config');
    const warnings: string[] = [];
    opened.onWarning((w) => warnings.push(w));
    let n = 1;
    for await (const _ of opened.rest) n++;
    opened.close();
    expect(n).toBe(lines.length + 1);
    expect(warnings).toEqual([
      expect.stringMatching(new RegExp(`late\\.jsonl: line ${lines.length + 1} is out of time order`)),
    ]);
  });

  it.each([
    ['standard input', '-', /the TUI reads its keys from standard input/],
    ['an empty name', '', /no recording given/],
    ['a folder', tmpdir(), /is a folder, not a recording/],
    ['/dev/null', '/dev/null', /\/dev\/null holds no events: it is empty/],
  ])('refuses %s on the ordinary terminal, before the screen opens', async (_name, file, message) => {
    await expect(openReplay(file)).rejects.toThrow(message);
  });
});
