import { describe, expect, test } from 'vitest';
import { DecodeError, decodeEvent, encodeEvent } from '../../src/events/codec.js';
import { capturedCounts, recordedEvents } from '../helpers.js';

describe('event codec', () => {
  test('every event of a real recording survives encode → decode unchanged', () => {
    const events = recordedEvents();
    expect(events.length).toBeGreaterThan(20);
    for (const e of events) expect(decodeEvent(encodeEvent(e), 1)).toEqual(e);
  });

  test('counts of events past the detail budget survive encode → decode; one without its count is refused', () => {
    const counts = capturedCounts();
    expect(counts.length).toBeGreaterThan(10);
    for (const e of counts) expect(decodeEvent(encodeEvent(e), 1)).toEqual(e);
    const { count: _count, ...without } = counts[0]!;
    expect(() => decodeEvent(JSON.stringify(without), 3)).toThrow(/line 3: counted event: "count" should be a number/);
  });

  test('a recording holds the kinds the frontends rely on', () => {
    const kinds = new Set(recordedEvents().map((e) => e.kind));
    for (const k of ['status', 'config', 'nat', 'ct-new', 'drop', 'request', 'observation']) expect(kinds).toContain(k);
  });

  const bad: [string, string, RegExp][] = [
    ['garbage', 'hello world', /line 7: not JSON/],
    ['truncated JSON', '{"v":1,"kind":"nat","t":1', /line 7: not JSON/],
    ['an array', '[1,2]', /not a JSON object/],
    ['no version', '{"kind":"nat"}', /no event version/],
    [
      'a newer version',
      '{"v":2,"kind":"nat","t":1,"host":"x","netns":0}',
      /event version 2 is newer than this natscope reads \(1\): upgrade natscope/,
    ],
    [
      'an unknown kind',
      '{"v":1,"kind":"teleport","t":1,"host":"x","netns":0}',
      /unknown event kind "teleport" \(known: nat, /,
    ],
    [
      'a nat event without tuples',
      '{"v":1,"kind":"nat","t":1,"host":"x","netns":0,"manip":"DNAT","proto":"tcp","orig":{},"reply":{},"to":{},"ct":"1"}',
      /"orig" is not a tuple/,
    ],
    [
      'a drop without a reason',
      '{"v":1,"kind":"drop","t":1,"host":"x","netns":0}',
      /drop event: "reason" should be a string/,
    ],
  ];
  test.each(bad)('%s is refused with the line number and why', (_name, line, message) => {
    expect(() => decodeEvent(line, 7)).toThrow(DecodeError);
    expect(() => decodeEvent(line, 7)).toThrow(message);
  });
});
