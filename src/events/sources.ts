// Event sources that need no kernel: a recorded JSONL file (replayed at its
// original pace, N× faster, or at once) and standard input.

import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../errors.js';
import { splitLines } from '../util/lines.js';
import { DecodeError, decodeEvent } from './codec.js';
import type { NatscopeEvent } from './types.js';

export const MAX_EVENT_BYTES = 1 << 20;

export interface ReplayOptions {
  // 1 = original pace, 10 = ten times faster, 0 = no waiting
  speed?: number;
  signal?: AbortSignal;
}

export async function checkRecording(path: string): Promise<void> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch {
    throw new NatscopeError(`replay file ${path} does not exist`, {
      hint: 'record one with: natscope trace --record FILE',
    });
  }
  if (!info.isFile()) throw new NatscopeError(`${path} is not a file`);
  if (info.size === 0)
    throw new NatscopeError(`replay file ${path} is empty: no events to replay`, {
      hint: 'record one with: natscope trace --record FILE',
    });
}

// Decodes a JSONL event stream; a bad line stops it with the line's number.
export async function* decodeStream(
  source: AsyncIterable<Buffer | string>,
  name: string,
): AsyncGenerator<NatscopeEvent> {
  let count = 0;
  for await (const item of splitLines(source, MAX_EVENT_BYTES)) {
    if ('tooLong' in item) {
      throw new NatscopeError(
        `${name}: line ${item.lineNo} is ${item.tooLong} bytes, over the ${MAX_EVENT_BYTES}-byte limit of an event`,
        {
          hint: 'is this a natscope recording (JSON Lines, one event per line)?',
        },
      );
    }
    if (item.line.trim() === '') continue;
    try {
      yield decodeEvent(item.line, item.lineNo);
      count++;
    } catch (error) {
      if (error instanceof DecodeError) {
        throw new NatscopeError(`${name}: ${error.message}`, {
          hint: 'a recording is JSON Lines written by natscope trace --record or --json',
        });
      }
      throw error;
    }
  }
  if (count === 0)
    throw new NatscopeError(`${name} holds no events`, { hint: 'record one with: natscope trace --record FILE' });
}

// A recording, or "-" for standard input (natscope trace --json | natscope replay -).
export async function* replayFile(path: string, options: ReplayOptions = {}): AsyncGenerator<NatscopeEvent> {
  if (path === '-') {
    yield* paced(decodeStream(process.stdin, 'standard input'), options);
    return;
  }
  await checkRecording(path);
  yield* paced(decodeStream(createReadStream(path), path), options);
}

// Re-creates the gaps between events (scaled by speed) using their timestamps.
export async function* paced(
  events: AsyncIterable<NatscopeEvent>,
  options: ReplayOptions,
): AsyncGenerator<NatscopeEvent> {
  const speed = options.speed ?? 0;
  let firstT: number | undefined;
  let startedAt = 0;
  for await (const event of events) {
    if (options.signal?.aborted) return;
    if (speed > 0) {
      if (firstT === undefined) {
        firstT = event.t;
        startedAt = performance.now();
      } else {
        const dueMs = (event.t - firstT) / 1e6 / speed;
        const waitMs = dueMs - (performance.now() - startedAt);
        // long idle stretches in a recording are cut to 2 s
        if (waitMs > 0)
          await sleep(Math.min(waitMs, 2000), undefined, { signal: options.signal }).catch(() => undefined);
        if (waitMs > 2000) startedAt -= waitMs - 2000;
      }
    }
    yield event;
  }
}
