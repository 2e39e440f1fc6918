// How a frontend talks to an agent: the same interface whether the agent is
// in this process or at the other end of a byte stream (the micro-VM's
// serial port, a session socket).

import type { Readable, Writable } from 'node:stream';
import { NatscopeError, describeError } from '../errors.js';
import { decodeEvent } from '../events/codec.js';
import { base, type NatscopeEvent } from '../events/types.js';
import { splitLines } from '../util/lines.js';
import { Agent, type AgentOptions } from './agent.js';
import type { Where } from './placement.js';
import { type CommandName, type CommandOf, parseReply, type Reply } from './protocol.js';

export type EventListener = (event: NatscopeEvent) => void;

export interface AgentClient {
  readonly where: Where;
  // a command, answered with the reply the protocol promises for it
  call<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>>;
  onEvent(listener: EventListener): () => void;
  close(): Promise<void>;
}

class Listeners {
  private readonly set = new Set<EventListener>();
  add(l: EventListener): () => void {
    this.set.add(l);
    return () => this.set.delete(l);
  }
  emit(e: NatscopeEvent): void {
    for (const l of this.set) l(e);
  }
}

// An agent in this process and its client: the agent's events go straight
// to the client's listeners, commands straight to the agent.
export function inProcessAgent(
  options: Omit<AgentOptions, 'emit'>,
  onClose: () => Promise<void> = async () => undefined,
): { client: AgentClient; agent: Agent } {
  const listeners = new Listeners();
  const agent = new Agent({ ...options, emit: (event) => listeners.emit(event) });
  return { client: new InProcessClient(agent, listeners, onClose), agent };
}

class InProcessClient implements AgentClient {
  constructor(
    private readonly agent: Agent,
    private readonly listeners: Listeners,
    private readonly onClose: () => Promise<void>,
  ) {}

  get where(): Where {
    return this.agent.where;
  }

  call<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>> {
    return this.agent.handle(command);
  }

  onEvent(listener: EventListener): () => void {
    return this.listeners.add(listener);
  }

  close(): Promise<void> {
    return this.onClose();
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

// JSON Lines both ways: commands out, events and replies in.
export class StreamClient implements AgentClient {
  private readonly listeners = new Listeners();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ended = false;
  readonly finished: Promise<void>;

  constructor(
    readonly where: Where,
    input: Readable,
    private readonly output: Writable,
    private readonly onClose: () => Promise<void> = async () => undefined,
  ) {
    this.finished = this.read(input);
    // a stream error (the peer killed) ends the client; it is reported through `finished`, never unhandled
    this.finished.catch(() => undefined);
  }

  private async read(input: Readable): Promise<void> {
    try {
      for await (const item of splitLines(input, 1 << 20)) {
        if ('tooLong' in item || item.line.trim() === '') continue;
        let event: NatscopeEvent;
        try {
          event = decodeEvent(item.line, item.lineNo);
        } catch (error) {
          // stray output (a guest's console noise) is not an event; a broken
          // event is said so (under emulation the serial port has been seen to
          // drop a few bytes of a line), rather than lost silently
          if (item.line.startsWith('{"v":')) {
            const why = error instanceof Error ? error.message : String(error);
            this.listeners.emit({
              ...base('error', 'natscope', 0),
              message: `an event from the ${this.where} agent arrived damaged and was dropped (${why})`,
              source: 'transport',
            });
          }
          continue;
        }
        if (event.kind === 'reply') {
          const p = this.pending.get(event.id);
          if (p) {
            this.pending.delete(event.id);
            if (event.ok) p.resolve(event.result);
            else
              p.reject(
                new NatscopeError(event.error ?? 'command failed', { hint: event.hint, exitCode: event.exitCode }),
              );
          }
          continue;
        }
        this.listeners.emit(event);
      }
    } finally {
      this.ended = true;
      for (const p of this.pending.values()) p.reject(new NatscopeError('the agent went away before it answered'));
      this.pending.clear();
    }
  }

  async call<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>> {
    if (this.ended) throw new NatscopeError('the agent is gone', { hint: 'start the lab again' });
    const id = this.nextId++;
    const result = await new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.output.write(`${JSON.stringify({ id, ...command })}\n`);
    });
    // from another process: checked against what this command answers
    try {
      return parseReply(command.cmd, result);
    } catch (error) {
      throw new NatscopeError(describeError(error), { hint: 'natscope on both ends must be the same build' });
    }
  }

  onEvent(listener: EventListener): () => void {
    return this.listeners.add(listener);
  }

  get closed(): boolean {
    return this.ended;
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
