// An agent served over a byte stream: commands in, events out, one JSON
// object per line (natscope agent --stdio, inside the micro-VM).

import type { Readable, Writable } from 'node:stream';
import { describeError, NatscopeError } from '../errors.js';
import { encodeEvent } from '../events/codec.js';
import { base, type NatscopeEvent } from '../events/types.js';
import { splitLines } from '../util/lines.js';
import type { Agent } from './agent.js';
import { type Envelope, parseEnvelope, RefusedCommand } from './protocol.js';

export function writer(output: Writable): (event: NatscopeEvent) => void {
  return (event) => {
    output.write(`${encodeEvent(event)}\n`);
  };
}

// Serves until the input ends or a shutdown command; returns then.
export async function serveStream(agent: Agent, input: Readable, emit: (e: NatscopeEvent) => void): Promise<void> {
  const inflight = new Set<Promise<void>>();
  for await (const item of splitLines(input, 1 << 20)) {
    if ('tooLong' in item || item.line.trim() === '') continue;
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(item.line);
    } catch (error) {
      if (error instanceof RefusedCommand)
        emit({ ...base('reply', 'natscope', 0), id: error.id, ok: false, error: error.message });
      else emit({ ...base('error', 'natscope', 0), message: describeError(error), source: 'agent' });
      continue;
    }
    const { id, ...command } = envelope;
    const done = (async () => {
      try {
        const result = await agent.handle(command);
        emit({ ...base('reply', 'natscope', 0), id, ok: true, result });
      } catch (error) {
        const hint = error instanceof NatscopeError ? error.hint : undefined;
        const exitCode = error instanceof NatscopeError ? error.exitCode : undefined;
        emit({
          ...base('reply', 'natscope', 0),
          id,
          ok: false,
          error: describeError(error),
          ...(hint ? { hint } : {}),
          ...(exitCode ? { exitCode } : {}),
        });
      }
    })();
    inflight.add(done);
    void done.finally(() => inflight.delete(done));
    if (command.cmd === 'shutdown') {
      await done;
      return;
    }
  }
  await Promise.all(inflight);
}
