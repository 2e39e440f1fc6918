import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { replayFile } from '../../src/events/sources.js';
import { RECORDING, testTempDir } from '../helpers.js';

const dir = testTempDir('natscope-sources-');
const file = (name: string, text: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
async function drain(path: string, speed = 0) {
  const out = [];
  for await (const e of replayFile(path, { speed })) out.push(e);
  return out;
}

describe('replaying a recording', () => {
  test('a real recording replays every event in order', async () => {
    const events = await drain(RECORDING);
    expect(events.length).toBeGreaterThan(20);
    expect(events.every((e, i) => i === 0 || e.t >= events[i - 1]!.t - 1e9)).toBe(true);
  });

  test('paced replay keeps the recorded gaps, scaled by speed', async () => {
    const lines = [0, 2e8].map((t) =>
      JSON.stringify({ v: 1, kind: 'error', t, host: 'x', netns: 0, message: 'm', source: 's' }),
    );
    const p = file('paced.jsonl', `${lines.join('\n')}\n`);
    const started = performance.now();
    await drain(p, 2); // 200 ms of recording at 2x
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  test.each([
    ['a missing file', join(dir, 'nope.jsonl'), /replay file .*nope\.jsonl does not exist/],
    ['an empty file', 'empty', /is empty: no events to replay/],
    ['a file that is not JSONL', 'text', /line 2: not JSON/],
    ['a file from a newer natscope', 'newer', /line 1: event version 9 is newer than this natscope reads/],
    ['a file with only blank lines', 'blank', /holds no events/],
  ])('%s is refused with one clear line', async (_name, which, message) => {
    const paths: Record<string, string> = {
      empty: file('empty.jsonl', ''),
      text: file('text.jsonl', '{"v":1,"kind":"error","t":0,"host":"x","netns":0,"message":"m","source":"s"}\nhello\n'),
      newer: file('newer.jsonl', '{"v":9,"kind":"nat","t":0,"host":"x","netns":0}\n'),
      blank: file('blank.jsonl', '\n\n\n'),
    };
    await expect(drain(paths[which] ?? which)).rejects.toThrow(message);
  });

  test('a 10 MB line is refused by its size and line number', async () => {
    const p = file(
      'big.jsonl',
      Buffer.concat([
        Buffer.from('{"v":1,"kind":"error","t":0,"host":"x","netns":0,"message":"m","source":"s"}\n'),
        Buffer.alloc(10 << 20, 0x61),
        Buffer.from('\n'),
      ]),
    );
    await expect(drain(p)).rejects.toThrow(/line 2 is 10485760 bytes, over the 1048576-byte limit/);
  });
});
