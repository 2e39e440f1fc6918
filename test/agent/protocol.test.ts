// The agent protocol's one declaration, checked at both ends: a command
// whose fields are not what its name takes is refused before the agent
// sees it, and a reply that is not what its command answers is refused
// before a frontend reads it.

import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { StreamClient } from '../../src/agent/client.js';
import { COMMAND_NAMES, parseEnvelope, parseReply, PROTOCOL, RefusedCommand } from '../../src/agent/protocol.js';
import { encodeEvent } from '../../src/events/codec.js';
import { base } from '../../src/events/types.js';
import { recordedEvents } from '../helpers.js';

describe('the agent protocol', () => {
  test('every command has a request and a reply schema', () => {
    expect(COMMAND_NAMES).toEqual(expect.arrayContaining(['status', 'request', 'set', 'trace', 'untrace', 'shutdown']));
    for (const name of COMMAND_NAMES) {
      expect(PROTOCOL[name].request).toBeDefined();
      expect(PROTOCOL[name].reply).toBeDefined();
    }
  });

  test('a command is read with its fields checked', () => {
    expect(parseEnvelope('{"id":3,"cmd":"request","target":"mysql","timeoutMs":3000}')).toEqual({
      id: 3,
      cmd: 'request',
      target: 'mysql',
      timeoutMs: 3000,
    });
    expect(() => parseEnvelope('{"id":3,"cmd":"request","target":5,"timeoutMs":3000}')).toThrow(
      /request command that is not what request takes: target/,
    );
    expect(() => parseEnvelope('{"id":3,"cmd":"reboot"}')).toThrow(/not a command \(known: status, request/);
    expect(() => parseEnvelope('{"cmd":"status"}')).toThrow(/not a command/);
  });

  test('a field this natscope does not know is refused, naming it, not dropped (a newer natscope meant something by it)', () => {
    const refused = (line: string) => {
      try {
        parseEnvelope(line);
      } catch (error) {
        return error;
      }
      return null;
    };
    const error = refused('{"id":7,"cmd":"trace","probes":["drop"],"attachTimeoutMs":1000,"traceDepth":3}');
    expect(error).toBeInstanceOf(RefusedCommand);
    expect(error).toMatchObject({
      id: 7,
      message:
        'a trace command with "traceDepth", which this natscope\'s agent does not take (a newer natscope sent it)',
    });
    // a wrong field is refused with its id too, so the client hears why
    expect(refused('{"id":8,"cmd":"request","target":5,"timeoutMs":3000}')).toMatchObject({ id: 8 });
    // a key with control characters is shown escaped
    expect(refused('{"id":9,"cmd":"status","\\u001b[2J":1}')).toMatchObject({
      message: expect.stringContaining('"\\u001b[2J"'),
    });
    expect(parseEnvelope('{"id":7,"cmd":"trace","probes":["drop"],"attachTimeoutMs":1000}')).toEqual({
      id: 7,
      cmd: 'trace',
      probes: ['drop'],
      attachTimeoutMs: 1000,
    });
  });

  test('a reply is checked against what its command answers', () => {
    const request = recordedEvents().find((e) => e.kind === 'request')!;
    expect(parseReply('request', request)).toEqual(request);
    expect(() => parseReply('request', { target: 'mysql' })).toThrow(/reply to request that is not what request takes/);
    expect(() => parseReply('rules', 42)).toThrow(/reply to rules/);
    expect(parseReply('untrace', null)).toBeNull();
  });

  test("over a stream, an agent's malformed reply is an error with a fix, not a wrong value", async () => {
    const toAgent = new PassThrough();
    const fromAgent = new PassThrough();
    const client = new StreamClient('micro-vm', fromAgent, toAgent);
    toAgent.on('data', (line: Buffer) => {
      const { id } = parseEnvelope(line.toString());
      fromAgent.write(`${encodeEvent({ ...base('reply', 'natscope', 0), id, ok: true, result: { vpnDrops: -1 } })}\n`);
    });
    await expect(client.call({ cmd: 'drops' })).rejects.toThrow(
      /reply to drops that is not what drops takes: vpnDrops/,
    );
    fromAgent.end();
  });
});
