import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import type { NatscopeError } from '../../src/errors.js';
import { decodeEvent } from '../../src/events/codec.js';
import { openRecording } from '../../src/events/record.js';
import { asNatscopeError, recordedEvents } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'natscope-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(path: string): Promise<NatscopeError> {
  const started = performance.now();
  const error = await openRecording(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(performance.now() - started).toBeLessThan(1000);
  return asNatscopeError(error);
}

describe('writing a recording', () => {
  test('a recording holds every event written, one per line, and reads back the same', async () => {
    const path = join(dir, 'run.jsonl');
    const events = recordedEvents();
    const recording = await openRecording(path);
    for (const e of events) recording.write(e);
    await recording.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines.map((l, i) => decodeEvent(l, i + 1))).toEqual(events);
  });

  test('the write test leaves a new recording empty until the first event', async () => {
    const path = join(dir, 'fresh.jsonl');
    writeFileSync(path, 'old contents\n');
    const recording = await openRecording(path);
    expect(statSync(path).size).toBe(0);
    await recording.close();
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  test.each([
    ['an empty name', () => '', /^--record needs a file name, and it is empty$/, 'name the file: --record run.jsonl'],
    [
      'a folder',
      () => dir,
      /^cannot write the recording .*: it is a folder$/,
      `name a file in it: --record ${join(dir, 'run.jsonl')}`,
    ],
    [
      '/dev/full',
      () => '/dev/full',
      /^cannot write the recording \/dev\/full: no space left on its device$/,
      'choose a writable file for --record, e.g. --record run.jsonl',
    ],
    [
      'a file in a folder that does not exist',
      () => join(dir, 'missing', 'run.jsonl'),
      /^cannot write the recording .*: the folder .*missing does not exist$/,
      'choose a writable file for --record, e.g. --record run.jsonl',
    ],
  ])('%s is refused before anything runs, with a fix', async (_name, path, message, hint) => {
    const error = await refusal(path());
    expect(error.message).toMatch(message);
    expect(error.hint).toBe(hint);
    expect(error.exitCode).toBe(2);
  });

  test('a FIFO nobody reads is refused at once instead of waiting for a reader', async () => {
    const fifo = join(dir, 'no-reader');
    execFileSync('mkfifo', [fifo]);
    const error = await refusal(fifo);
    expect(error.message).toBe(`nothing reads the FIFO ${fifo}: the recording would wait for a reader`);
    expect(error.hint).toBe(`start its reader first (e.g. cat ${fifo} > run.jsonl &), or record to a file`);
  });

  test('a FIFO with a reader receives the recording', async () => {
    const fifo = join(dir, 'read');
    execFileSync('mkfifo', [fifo]);
    // the reader: this process, without blocking
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const recording = await openRecording(fifo);
      const event = recordedEvents()[0]!;
      recording.write(event);
      await recording.close();
      const text = readFileSync(reader, 'utf8');
      expect(decodeEvent(text.trim(), 1)).toEqual(event);
    } finally {
      closeSync(reader);
    }
  });

  test('closing does not wait for ever on a FIFO whose reader stopped reading: it says so', async () => {
    const fifo = join(dir, 'stalled');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const recording = await openRecording(fifo);
      // more than a pipe holds (64 KiB), and nobody reads
      const event = recordedEvents().find((e) => e.kind === 'observation' && e.what === 'rules')!;
      for (let i = 0; i < 100; i++) recording.write(event);
      const started = performance.now();
      await expect(recording.close()).rejects.toThrow(/was not all taken: its reader stopped reading/);
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      closeSync(reader);
    }
  });
});
