// A recording being written: the event stream into a file, opened before
// anything runs (so a bad path fails first, with nothing started), flushed
// on every way out.

import { createWriteStream, type WriteStream } from 'node:fs';
import { NatscopeError } from '../errors.js';
import { onCleanup } from '../util/cleanup.js';
import { encodeEvent } from './codec.js';
import type { NatscopeEvent } from './types.js';

export interface Recording {
  write(event: NatscopeEvent): void;
  close(): Promise<void>;
}

export async function openRecording(path: string): Promise<Recording> {
  const stream: WriteStream = createWriteStream(path, { flags: 'w' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e) =>
      reject(
        new NatscopeError(`cannot write ${path}: ${e.message}`, {
          hint: 'choose a writable path for --record',
          exitCode: 2,
        }),
      ),
    );
  });
  let failed: Error | null = null;
  stream.on('error', (e) => {
    failed = e;
  });
  const cleanup = onCleanup(`finish the recording ${path}`, () => new Promise<void>((resolve) => stream.end(resolve)));
  return {
    write(event) {
      if (!failed) stream.write(`${encodeEvent(event)}\n`);
    },
    async close() {
      await cleanup.run();
      if (failed) throw new NatscopeError(`writing ${path} failed: ${(failed as Error).message}`);
    },
  };
}
