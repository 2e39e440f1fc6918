import { describe, expect, test } from 'vitest';
import { FlowTracker } from '../../src/events/flows.js';
import { inTimeOrder, REORDER_WINDOW_NS, type NumberedEvent } from '../../src/events/timeOrder.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { recordedEvents } from '../helpers.js';
import { FIXTURES } from '../helpers.js';
import { join } from 'node:path';

async function* numbered(events: NatscopeEvent[]): AsyncGenerator<NumberedEvent> {
  let lineNo = 0;
  for (const event of events) yield { event, lineNo: ++lineNo };
}

async function ordered(events: NatscopeEvent[]) {
  const warnings: string[] = [];
  const out: NatscopeEvent[] = [];
  for await (const e of inTimeOrder(numbered(events), 'run.jsonl', { onWarning: (w) => warnings.push(w) })) out.push(e);
  return { out, warnings };
}

function flowCount(events: NatscopeEvent[]): number {
  const tracker = new FlowTracker();
  for (const e of events) tracker.add(e);
  return tracker.flows().filter((f) => f.events.length > 0).length;
}

const TAMPERED = join(FIXTURES, 'recordings', 'walkthrough-masquerade-all-on.jsonl');

describe('putting a recording in time order', () => {
  test('a real recording, whose kernel events arrive up to 0.55 s late, comes out sorted without a warning', async () => {
    const events = recordedEvents(TAMPERED);
    expect(events.some((e, i) => i > 0 && e.t < events[i - 1]!.t)).toBe(true);
    const { out, warnings } = await ordered(events);
    expect(warnings).toEqual([]);
    expect(out).toHaveLength(events.length);
    expect(out.every((e, i) => i === 0 || e.t >= out[i - 1]!.t)).toBe(true);
    expect([...out].sort((a, b) => a.t - b.t)).toEqual(out);
  });

  test('events with the same time keep their order in the file', async () => {
    const base = recordedEvents().slice(0, 5);
    const same = base.map((e) => ({ ...e, t: 100 }));
    const { out } = await ordered(same);
    expect(out).toEqual(same);
  });

  test('lines shuffled within the window come out as the kernel saw them, and flows do not split', async () => {
    const events = recordedEvents();
    const shuffled = [...events];
    // swap neighbours: each event moves by one line, a few ms at most
    for (let i = 0; i + 1 < shuffled.length; i += 2) [shuffled[i], shuffled[i + 1]] = [shuffled[i + 1]!, shuffled[i]!];
    const { out, warnings } = await ordered(shuffled);
    const { out: original } = await ordered(events);
    expect(warnings).toEqual([]);
    expect(out).toEqual(original);
    expect(flowCount(out)).toBe(flowCount(original));
  });

  test('an event later than the window allows is shown after what came before it, with a warning naming its line', async () => {
    const events = recordedEvents();
    const last = events[events.length - 1]!;
    const early = { ...events[3]!, t: last.t - 3 * REORDER_WINDOW_NS };
    const { out, warnings } = await ordered([...events, early]);
    expect(out).toHaveLength(events.length + 1);
    expect(out[out.length - 1]).toEqual(early);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      new RegExp(
        `^run\\.jsonl: line ${events.length + 1} is out of time order \\(\\d+\\.\\d{3} s earlier than line \\d+, shown already\\): natscope sorts events only within 2 s$`,
      ),
    );
  });

  test('two recordings joined one after the other are each sorted, with one warning where the second starts', async () => {
    const events = recordedEvents();
    const { out, warnings } = await ordered([...events, ...events]);
    expect(out).toHaveLength(2 * events.length);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`line ${events.length + 1} is out of time order`);
    const { out: once } = await ordered(events);
    expect(out).toEqual([...once, ...once]);
  });

  test('a recording in reverse is shown whole, with a warning each time it goes back past the window', async () => {
    const events = recordedEvents().reverse();
    const { out, warnings } = await ordered(events);
    expect(out).toHaveLength(events.length);
    const span = (events[0]!.t - events[events.length - 1]!.t) / REORDER_WINDOW_NS;
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThanOrEqual(Math.ceil(span));
    for (const w of warnings) expect(w).toMatch(/^run\.jsonl: line \d+ is out of time order \(/);
  });

  test('past five late lines the rest are counted in one warning', async () => {
    const e = recordedEvents()[0]!;
    // each 3 s before the one before it: every second one comes after its predecessor was shown (9 in all)
    const falling = Array.from({ length: 20 }, (_, i) => ({ ...e, t: 100e9 - i * 3e9 }));
    const { out, warnings } = await ordered(falling);
    expect(out).toHaveLength(20);
    expect(warnings).toHaveLength(6);
    expect(warnings[5]).toBe('run.jsonl: 4 more line(s) out of time order');
  });

  test('a bad line ends the recording after the events read before it, all of them, in order', async () => {
    const events = recordedEvents().slice(0, 10);
    async function* failing(): AsyncGenerator<NumberedEvent> {
      yield* numbered(events);
      throw new Error('line 11: not JSON');
    }
    const out: NatscopeEvent[] = [];
    const error = await (async () => {
      for await (const e of inTimeOrder(failing(), 'run.jsonl')) out.push(e);
    })().catch((e: unknown) => e);
    expect(error).toEqual(new Error('line 11: not JSON'));
    expect(out).toEqual([...events].sort((a, b) => a.t - b.t));
  });
});
