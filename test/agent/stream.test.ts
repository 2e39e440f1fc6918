// The agent protocol over a byte stream (as on the micro-VM's serial port):
// commands out, replies matched by id, events streamed, errors with their hint.

import { PassThrough } from 'node:stream';
import { describe, expect, test, vi } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { StreamClient } from '../../src/agent/client.js';
import { serveStream, writer } from '../../src/agent/serve.js';
import { PROTOCOL_REVISION } from '../../src/agent/protocol.js';
import { NatscopeError } from '../../src/errors.js';
import type { NatscopeEvent, RequestEvent } from '../../src/events/types.js';
import type { Lab } from '../../src/lab/lab.js';
import { recordedEvents } from '../helpers.js';

// A lab that answers from a recording: the transport is under test here, not the lab.
const recorded = recordedEvents();
const status = recorded.find((e) => e.kind === 'status' && e.lab)!;
const lab = {
  backend: 'netns',
  status: async () => (status.kind === 'status' ? status.lab! : null),
  request: async (target: string) => {
    const r = recorded.find((e): e is RequestEvent => e.kind === 'request' && e.target === target);
    if (!r) throw new NatscopeError(`unknown service or pod "${target}"`, { hint: 'valid targets: nginx, mysql' });
    return r;
  },
  loadSources: () => [],
  registerHosts: async () => undefined,
  down: async () => undefined,
} as unknown as Lab;

function wire() {
  const toAgent = new PassThrough();
  const fromAgent = new PassThrough();
  const emit = writer(fromAgent);
  const agent = new Agent({ lab, where: 'micro-vm', emit });
  const served = serveStream(agent, toAgent, emit);
  const client = new StreamClient('micro-vm', fromAgent, toAgent);
  return { client, served, toAgent, fromAgent };
}

describe('the agent over a byte stream', () => {
  test('a command gets its reply; the event it caused is streamed too', async () => {
    const { client, toAgent } = wire();
    const seen: NatscopeEvent[] = [];
    client.onEvent((e) => seen.push(e));
    const r = await client.call({ cmd: 'request', target: 'mysql', timeoutMs: 1000 });
    expect(r.target).toBe('mysql');
    expect(seen.map((e) => e.kind)).toEqual(['request']);
    toAgent.end();
  });

  test('the agent says its protocol revision in its status', async () => {
    const { client, toAgent } = wire();
    expect((await client.call({ cmd: 'status' })).protocol).toBe(PROTOCOL_REVISION);
    toAgent.end();
  });

  test('a command with a field the agent does not take is answered with why, not left waiting', async () => {
    const { fromAgent, toAgent } = wire();
    let out = '';
    fromAgent.on('data', (d: Buffer) => {
      out += d.toString();
    });
    toAgent.write('{"id":41,"cmd":"status","verbose":true}\n');
    await vi.waitFor(() => expect(out).toContain('"id":41'), { timeout: 10_000, interval: 10 });
    expect(JSON.parse(out.trim().split('\n')[0]!)).toMatchObject({
      kind: 'reply',
      id: 41,
      ok: false,
      error: 'a status command with "verbose", which this natscope\'s agent does not take (a newer natscope sent it)',
    });
    toAgent.end();
  });

  test("a failing command rejects with the agent's message and hint", async () => {
    const { client, toAgent } = wire();
    const error = await client
      .call({ cmd: 'request', target: 'redis', timeoutMs: 1000 })
      .catch((e: NatscopeError) => e);
    expect(error).toBeInstanceOf(NatscopeError);
    expect(error).toMatchObject({ message: 'unknown service or pod "redis"', hint: 'valid targets: nginx, mysql' });
    toAgent.end();
  });

  test('console noise is skipped; an event line that arrived damaged becomes an error event', async () => {
    const { client, fromAgent, toAgent } = wire();
    const seen: NatscopeEvent[] = [];
    client.onEvent((e) => seen.push(e));
    const event = recorded.find((e) => e.kind === 'nat')!;
    const line = JSON.stringify(event);
    // nine bytes gone from the middle (here `},"reply"`), as a serial port under emulation once dropped them
    const cut = line.indexOf('},"reply"');
    fromAgent.write(`[    3.141592] random: crng init done\n${line.slice(0, cut)}${line.slice(cut + 9)}\n${line}\n`);
    await vi.waitFor(() => expect(seen.map((e) => e.kind)).toEqual(['error', 'nat']), {
      timeout: 10_000,
      interval: 10,
    });
    expect(seen[0]).toMatchObject({
      source: 'transport',
      message: expect.stringMatching(/^an event from the micro-vm agent arrived damaged and was dropped \(line 2: /),
    });
    expect(seen[1]).toEqual(event);
    toAgent.end();
  });

  test('a trace with a detail budget that is not a count is refused before anything starts', async () => {
    const { client, toAgent } = wire();
    const error = await client.call({ cmd: 'trace', probes: ['drop'], detail: -5 }).catch((e: NatscopeError) => e);
    expect(error).toMatchObject({
      message: 'detail -5 is not a number of events per CPU and second',
      hint: 'give a whole number ≥ 1, or 0 for every event',
    });
    toAgent.end();
  });

  test('concurrent commands get their own replies', async () => {
    const { client, toAgent } = wire();
    const [a, b] = await Promise.all([
      client.call({ cmd: 'request', target: 'nginx', timeoutMs: 1000 }),
      client.call({ cmd: 'request', target: 'pod/mysql', timeoutMs: 1000 }),
    ]);
    expect([a!.target, b!.target]).toEqual(['nginx', 'pod/mysql']);
    toAgent.end();
  });

  test('garbage on the command channel becomes an error event, the agent carries on', async () => {
    const { client, toAgent } = wire();
    const seen: NatscopeEvent[] = [];
    client.onEvent((e) => seen.push(e));
    toAgent.write('not a command\n');
    await client.call({ cmd: 'status' });
    expect(seen.find((e) => e.kind === 'error')).toMatchObject({ source: 'agent' });
    toAgent.end();
  });

  test('shutdown is answered, then the agent stops serving; later calls fail clearly', async () => {
    const { client, served, fromAgent } = wire();
    await client.call({ cmd: 'shutdown' });
    await served;
    fromAgent.end();
    await client.finished;
    await expect(client.call({ cmd: 'status' })).rejects.toThrow(/the agent is gone/);
  });
});
