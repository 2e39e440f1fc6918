import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { openRecordingSource, readRecording, replayFile } from '../../src/events/sources.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { asNatscopeError, RECORDING, testTempDir } from '../helpers.js';

const dir = testTempDir('natscope-sources-');

const file = (name: string, text: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
async function drain(path: string, speed = 0, onWarning?: (m: string) => void) {
  const out: NatscopeEvent[] = [];
  for await (const e of replayFile(path, { speed, ...(onWarning ? { onWarning } : {}) })) out.push(e);
  return out;
}
const recordingText = () => readFileSync(RECORDING, 'utf8');

describe('replaying a recording', () => {
  test('a real recording replays every event, in time order', async () => {
    const events = await drain(RECORDING);
    expect(events.length).toBe(recordingText().trim().split('\n').length);
    expect(events.every((e, i) => i === 0 || e.t >= events[i - 1]!.t)).toBe(true);
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

  test('a recording that starts with a UTF-8 byte order mark is read as if it had none', async () => {
    const p = file('bom.jsonl', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(recordingText())]));
    expect(await drain(p)).toEqual(await drain(RECORDING));
  });

  test('a FIFO is read as it is written, like standard input', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', RECORDING, fifo], { stdio: 'ignore' });
    try {
      expect((await drain(fifo)).length).toBe(recordingText().trim().split('\n').length);
    } finally {
      writer.kill();
    }
  });

  test.each([
    ['a missing file', () => join(dir, 'nope.jsonl'), /^replay file .*nope\.jsonl does not exist$/],
    ['an empty file', () => file('empty.jsonl', ''), /^.*empty\.jsonl holds no events: it is empty$/],
    ['/dev/null', () => '/dev/null', /^\/dev\/null holds no events: it is empty$/],
    ['a file with only blank lines', () => file('blank.jsonl', '\n\n\n'), /holds no events: only blank lines$/],
    [
      'a file that is not JSONL',
      () => file('text.jsonl', '{"v":1,"kind":"error","t":0,"host":"x","netns":0,"message":"m","source":"s"}\nhello\n'),
      /text\.jsonl: line 2: not JSON/,
    ],
    [
      'a file from a newer natscope',
      () => file('newer.jsonl', '{"v":9,"kind":"nat","t":0,"host":"x","netns":0}\n'),
      /line 1: event version 9 is newer than this natscope reads/,
    ],
    [
      'a folder',
      () => {
        mkdirSync(join(dir, 'folder'), { recursive: true });
        writeFileSync(join(dir, 'folder', 'a.jsonl'), '');
        return join(dir, 'folder');
      },
      /^.*folder is a folder, not a recording$/,
    ],
    ['an empty name', () => '', /^no recording given: the file name is empty$/],
    ['a gzip-compressed recording', () => file('run.jsonl.gz', gzipSync(recordingText())), /is gzip-compressed/],
    [
      'a UTF-16 recording',
      () => file('utf16.jsonl', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(recordingText(), 'utf16le')])),
      /utf16\.jsonl is UTF-16 text; recordings are UTF-8$/,
    ],
    ['a path through a file', () => join(RECORDING, 'x.jsonl'), /a part of its path is a file, not a folder$/],
  ])('%s is refused with one clear line and a fix', async (_name, path, message) => {
    const error = asNatscopeError(await drain(path()).catch((e: unknown) => e));
    expect(error.message).toMatch(message);
    expect(error.hint).toBeTruthy();
  });

  test('a folder of recordings is refused with one of them named in the fix', async () => {
    mkdirSync(join(dir, 'runs'), { recursive: true });
    copyFileSync(RECORDING, join(dir, 'runs', 'b.jsonl'));
    copyFileSync(RECORDING, join(dir, 'runs', 'a.jsonl'));
    const error = asNatscopeError(await drain(join(dir, 'runs')).catch((e: unknown) => e));
    expect(error.hint).toBe(
      `replay one of the 2 recording(s) in it, e.g. natscope replay ${join(dir, 'runs', 'a.jsonl')}`,
    );
  });

  test('a socket is refused as not a recording', async () => {
    const path = join(dir, 'sock');
    const server = createServer().listen(path);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      await expect(drain(path)).rejects.toThrow(/sock is a socket, not a recording$/);
    } finally {
      server.close();
    }
  });

  test('a 10 MB line is refused by the line number, after reading no more than the limit', async () => {
    const p = file(
      'big.jsonl',
      Buffer.concat([
        Buffer.from('{"v":1,"kind":"error","t":0,"host":"x","netns":0,"message":"m","source":"s"}\n'),
        Buffer.alloc(10 << 20, 0x61),
        Buffer.from('\n'),
      ]),
    );
    await expect(drain(p)).rejects.toThrow(/big\.jsonl: line 2 is longer than 1048576 bytes, the limit of an event/);
  });

  test('a source that never ends a line (/dev/zero) is refused, not read forever', async () => {
    await expect(drain('/dev/zero')).rejects.toThrow(/^\/dev\/zero: line 1 is longer than 1048576 bytes/);
  });
});

describe('reading a recording as it is written', () => {
  test('events held for sorting are let out when a pipe goes quiet, not at its end', async () => {
    const lines = recordingText().trim().split('\n');
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* pipe() {
      yield Buffer.from(`${lines.slice(0, 3).join('\n')}\n`);
      await held; // the writer pauses (a live trace with nothing to report)
      yield Buffer.from(`${lines.slice(3).join('\n')}\n`);
    }
    const events = readRecording({ name: 'pipe', bytes: pipe(), streaming: true, close: () => undefined });
    const first = await events.next();
    expect(first.done).toBe(false);
    release();
    let n = 1;
    for await (const _ of events) n++;
    expect(n).toBe(lines.length);
  });

  test('standard input is named as such', async () => {
    const source = await openRecordingSource('-');
    expect(source.name).toBe('standard input');
    expect(source.streaming).toBe(true);
  });
});
