// A recording being written: the event stream into a file, opened before
// anything runs (so a bad path fails first, with nothing started), flushed
// on every way out. What cannot take a recording is refused up front, in
// words: no name, a folder, a device that cannot be written (/dev/full is
// tried with a real write), a FIFO nobody reads (opening it for writing would
// wait for a reader before tracing even starts, and --duration with it).

import {
  closeSync,
  constants,
  createWriteStream,
  fstatSync,
  ftruncateSync,
  openSync,
  statSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { NatscopeError } from '../errors.js';
import { onCleanup } from '../util/cleanup.js';
import { encodeEvent } from './codec.js';
import type { NatscopeEvent } from './types.js';

export interface Recording {
  write(event: NatscopeEvent): void;
  close(): Promise<void>;
}

// how long closing waits for a slow reader (a FIFO's) to take the rest
const CLOSE_WAIT_MS = 3000;
const HINT = 'choose a writable file for --record, e.g. --record run.jsonl';

function errorCode(error: unknown): string {
  return error instanceof Error && 'code' in error ? String(error.code) : '';
}

// Why `path` cannot take a recording, in words.
function unwritable(path: string, error: unknown): NatscopeError {
  const code = errorCode(error);
  const reasons: Record<string, string> = {
    ENOENT: `the folder ${dirname(path)} does not exist`,
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    EROFS: 'it is on a read-only file system',
    ENOSPC: 'no space left on its device',
    EDQUOT: 'the disk quota is used up',
    EFBIG: 'the file size limit is reached',
    EISDIR: 'it is a folder',
    ENOTDIR: 'a part of its path is a file, not a folder',
    EPIPE: 'its reader went away',
  };
  const why = reasons[code] ?? (error instanceof Error ? error.message : String(error));
  return new NatscopeError(`cannot write the recording ${path}: ${why}`, { hint: HINT, exitCode: 2 });
}

function existing(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null; // not there (it is created), or not reachable (opening says why)
  }
}

// A FIFO is written only if something reads it already: opened without
// blocking, so no reader means an answer now instead of a wait.
function openFifo(path: string): Writable {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (error) {
    if (errorCode(error) === 'ENXIO')
      throw new NatscopeError(`nothing reads the FIFO ${path}: the recording would wait for a reader`, {
        hint: `start its reader first (e.g. cat ${path} > run.jsonl &), or record to a file`,
        exitCode: 2,
      });
    throw unwritable(path, error);
  }
  // a pipe written without blocking: node's stream machinery waits for room
  return new Socket({ fd, readable: false, writable: true });
}

// A file or a device, opened and tried with a real write, so that a full
// disk or /dev/full says so now and not when the run is over.
function openFile(path: string): Writable {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (error) {
    throw unwritable(path, error);
  }
  try {
    if (fstatSync(fd).isFile()) {
      // one byte at the start, taken back: the file stays empty, its space is proven
      writeSync(fd, '\n', 0, 'utf8');
      ftruncateSync(fd, 0);
    } else {
      writeSync(fd, Buffer.alloc(0));
    }
  } catch (error) {
    closeSync(fd);
    throw unwritable(path, error);
  }
  return createWriteStream(path, { fd });
}

export async function openRecording(path: string): Promise<Recording> {
  if (path === '')
    throw new NatscopeError('--record needs a file name, and it is empty', {
      hint: 'name the file: --record run.jsonl',
      exitCode: 2,
    });
  const info = existing(path);
  if (info?.isDirectory())
    throw new NatscopeError(`cannot write the recording ${path}: it is a folder`, {
      hint: `name a file in it: --record ${join(path, 'run.jsonl')}`,
      exitCode: 2,
    });
  if (info?.isSocket())
    throw new NatscopeError(`cannot write the recording ${path}: it is a socket`, { hint: HINT, exitCode: 2 });
  const stream = info?.isFIFO() ? openFifo(path) : openFile(path);
  let failed: NatscopeError | null = null;
  stream.on('error', (error) => {
    failed ??= unwritable(path, error);
  });
  const finish = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        failed ??= new NatscopeError(`the recording ${path} was not all taken: its reader stopped reading`, {
          hint: HINT,
        });
        stream.destroy();
        resolve();
      }, CLOSE_WAIT_MS);
      stream.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  const cleanup = onCleanup(`finish the recording ${path}`, finish);
  return {
    write(event) {
      if (!failed) stream.write(`${encodeEvent(event)}\n`);
    },
    async close() {
      await cleanup.run();
      if (failed) throw failed;
    },
  };
}
