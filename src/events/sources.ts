// Event sources that need no kernel: a recorded JSONL file (replayed at its
// original pace, N× faster, or at once), a pipe or FIFO (`<(zcat run.jsonl.gz)`,
// read as it is written, like standard input) and standard input itself.
// Whatever goes wrong says so in one line with what to do: a folder, a file
// nobody may read, an empty one, a compressed or UTF-16 one, a line that never
// ends; a bad event names its line and field; events are put in time order.

import { type Stats, constants, createReadStream, openSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../errors.js';
import { splitLines } from '../util/lines.js';
import { DecodeError, decodeEvent } from './codec.js';
import { inTimeOrder, type NumberedEvent } from './timeOrder.js';
import type { NatscopeEvent } from './types.js';

export const MAX_EVENT_BYTES = 1 << 20;
// a pipe that goes quiet this long has its events shown rather than held for sorting
const QUIET_MS = 250;
const RECORD_HINT = 'record one with: natscope trace --record FILE';

export interface ReplayOptions {
  // 1 = original pace, 10 = ten times faster, 0 = no waiting
  speed?: number;
  signal?: AbortSignal;
  // warnings about the recording (events out of time order): stderr, or the TUI's log
  onWarning?: (message: string) => void;
}

// A recording opened for reading.
export interface RecordingSource {
  // how messages name it: its path, or "standard input"
  name: string;
  bytes: AsyncIterable<Buffer | string>;
  // read as it is written (standard input, a pipe, a FIFO), not all there at once
  streaming: boolean;
  close(): void;
}

function errorCode(error: unknown): string {
  return error instanceof Error && 'code' in error ? String(error.code) : '';
}

// Why `path` cannot be read, in words, with what to do.
function unreadable(path: string, error: unknown): NatscopeError {
  const code = errorCode(error);
  if (code === 'ENOENT') return new NatscopeError(`replay file ${path} does not exist`, { hint: RECORD_HINT });
  if (code === 'EACCES' || code === 'EPERM')
    return new NatscopeError(`cannot read ${path} (permission denied)`, {
      hint: `check its permissions (ls -l ${path}), or replay it as a user who may read it`,
    });
  if (code === 'ENOTDIR')
    return new NatscopeError(`cannot read ${path}: a part of its path is a file, not a folder`, { hint: RECORD_HINT });
  if (code === 'ELOOP')
    return new NatscopeError(`cannot read ${path}: its symbolic links go round in a loop`, {
      hint: 'point it at the recording itself',
    });
  return new NatscopeError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, {
    hint: RECORD_HINT,
  });
}

async function folderError(path: string): Promise<NatscopeError> {
  const recordings = (await readdir(path).catch(() => [])).filter((f) => f.endsWith('.jsonl')).sort();
  const first = recordings[0];
  return new NatscopeError(`${path} is a folder, not a recording`, {
    hint: first
      ? `replay one of the ${recordings.length} recording(s) in it, e.g. natscope replay ${join(path, first)}`
      : RECORD_HINT,
  });
}

// Opens a recording: "-" is standard input; a FIFO, a pipe or a device is
// read as it comes, like standard input. Nothing is read yet.
export async function openRecordingSource(path: string): Promise<RecordingSource> {
  if (path === '')
    throw new NatscopeError('no recording given: the file name is empty', {
      hint: 'name a recording (natscope replay FILE), or - for standard input',
      exitCode: 2,
    });
  if (path === '-') return { name: 'standard input', bytes: process.stdin, streaming: true, close: () => undefined };
  let info: Stats;
  try {
    info = await stat(path);
  } catch (error) {
    throw unreadable(path, error);
  }
  if (info.isDirectory()) throw await folderError(path);
  if (info.isSocket() || info.isBlockDevice())
    throw new NatscopeError(`${path} is a ${info.isSocket() ? 'socket' : 'block device'}, not a recording`, {
      hint: RECORD_HINT,
    });
  if (info.isFIFO()) return openFifo(path);
  // opened before anything is read, so a file nobody may read fails here, in words
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (error) => reject(unreadable(path, error)));
  });
  return { name: path, bytes: stream, streaming: !info.isFile(), close: () => stream.destroy() };
}

// A FIFO is opened without blocking and read as a pipe. A plain open of one
// that has no writer yet waits in a thread of node's pool until a writer
// comes, and a process cannot exit while that thread waits: Ctrl-C or
// SIGTERM left natscope hanging. As a pipe it waits on the event loop.
function openFifo(path: string): RecordingSource {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw unreadable(path, error);
  }
  const pipe = new Socket({ fd, readable: true, writable: false });
  return { name: path, bytes: pipe, streaming: true, close: () => pipe.destroy() };
}

// The bytes of a recording, refused early when they cannot be one: gzip,
// UTF-16, or a line that runs past the limit without ending (/dev/zero).
async function* checkedBytes(source: AsyncIterable<Buffer | string>, name: string): AsyncGenerator<Buffer> {
  let total = 0;
  let lineNo = 1;
  let sinceBreak = 0;
  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (total === 0 && buf.length >= 2) refuseEncoding(buf, name);
    total += buf.length;
    let last = -1;
    for (let at = buf.indexOf(10); at !== -1; at = buf.indexOf(10, at + 1)) {
      lineNo++;
      last = at;
    }
    sinceBreak = last === -1 ? sinceBreak + buf.length : buf.length - last - 1;
    if (sinceBreak > MAX_EVENT_BYTES) throw tooLong(name, lineNo);
    yield buf;
  }
  if (total === 0)
    throw new NatscopeError(`${name} holds no events: it is empty`, {
      hint: RECORD_HINT,
    });
}

function refuseEncoding(head: Buffer, name: string): void {
  if (head[0] === 0x1f && head[1] === 0x8b)
    throw new NatscopeError(`${name} is gzip-compressed, not a recording as written`, {
      hint: name === 'standard input' ? 'zcat FILE | natscope replay -' : `natscope replay <(zcat ${name})`,
    });
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff))
    throw new NatscopeError(`${name} is UTF-16 text; recordings are UTF-8`, {
      hint: `convert it: iconv -f UTF-16 -t UTF-8 ${name === 'standard input' ? 'FILE' : name} > recording.jsonl`,
    });
}

function tooLong(name: string, lineNo: number): NatscopeError {
  return new NatscopeError(`${name}: line ${lineNo} is longer than ${MAX_EVENT_BYTES} bytes, the limit of an event`, {
    hint: 'is this a natscope recording (JSON Lines, one event per line)?',
  });
}

// Decodes a JSONL event stream, each event with its line; a bad line stops
// it with the line's number. A UTF-8 byte order mark (some editors write one)
// is skipped.
export async function* decodeLines(
  source: AsyncIterable<Buffer | string>,
  name: string,
): AsyncGenerator<NumberedEvent> {
  let count = 0;
  for await (const item of splitLines(checkedBytes(source, name), MAX_EVENT_BYTES)) {
    if ('tooLong' in item) throw tooLong(name, item.lineNo);
    const line = item.lineNo === 1 && item.line.charCodeAt(0) === 0xfeff ? item.line.slice(1) : item.line;
    if (line.trim() === '') continue;
    try {
      yield { event: decodeEvent(line, item.lineNo), lineNo: item.lineNo };
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
    throw new NatscopeError(`${name} holds no events: only blank lines`, {
      hint: RECORD_HINT,
    });
}

// A recording's events, decoded and in time order (see timeOrder.ts).
export function readRecording(
  source: RecordingSource,
  options: Pick<ReplayOptions, 'onWarning'> = {},
): AsyncGenerator<NatscopeEvent> {
  return inTimeOrder(decodeLines(source.bytes, source.name), source.name, {
    ...options,
    ...(source.streaming ? { idleMs: QUIET_MS } : {}),
  });
}

// A recording, or "-" for standard input (natscope trace --json | natscope replay -).
export async function* replayFile(path: string, options: ReplayOptions = {}): AsyncGenerator<NatscopeEvent> {
  const source = await openRecordingSource(path);
  try {
    yield* paced(readRecording(source, options), options);
  } finally {
    source.close();
  }
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
