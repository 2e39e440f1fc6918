// The lab's request and load tools (natscope-net), run for real on loopback
// against the lab's own pod server, their output read back through
// src/lab/request.ts and src/lab/load.ts; and what those readers say when a
// tool prints something else (an old build, a crash mid-line).

import { createServer } from 'node:net';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Target } from '../../src/lab/lab.js';
import { loadCommand, loadResult } from '../../src/lab/load.js';
import { helperPath } from '../../src/lab/netns/build.js';
import { requestEvent } from '../../src/lab/request.js';

// a free port on loopback, for the pod server
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

let pod: ResultPromise | undefined;
let target: Target;

beforeAll(async () => {
  const port = await freePort();
  target = { name: 'nginx', via: 'pod', ip: '127.0.0.1', port, proto: 'http', pod: 'nginx' };
  pod = execa(helperPath(), ['serve', '--port', String(port), '--name', 'nginx', '--node', 'node1', '--proto', 'http']);
  // the server is up when a request is answered
  for (let i = 0; i < 100; i++) {
    const r = await execa(helperPath(), [
      'request',
      '--proto',
      'http',
      '--timeout-ms',
      '500',
      '127.0.0.1',
      String(port),
    ]);
    if (r.stdout.includes('"answered"')) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the pod server did not answer');
});

afterAll(async () => {
  pod?.kill('SIGTERM');
  await pod?.catch(() => undefined);
});

describe('the request tool, read back', () => {
  test("an answered request: outcome, the connection's local address, and the pod's own line", async () => {
    const r = await execa(helperPath(), [
      'request',
      '--proto',
      'http',
      '--timeout-ms',
      '2000',
      '127.0.0.1',
      String(target.port),
    ]);
    const e = requestEvent(r.stdout, target, 7);
    expect(e).toMatchObject({ kind: 'request', host: 'office', netns: 7, outcome: 'answered', pod: 'nginx' });
    expect(e.node).toBe('node1');
    expect(e.src).toBe('127.0.0.1');
    // the pod saw the connection come from the address the tool reported
    expect(e.peer).toBe(`${e.src}:${e.sport}`);
    expect(e.latencyMs).toBeGreaterThanOrEqual(0);
  });

  test('a refused connection is reported as refused', async () => {
    const port = await freePort();
    const r = await execa(helperPath(), [
      'request',
      '--proto',
      'http',
      '--timeout-ms',
      '2000',
      '127.0.0.1',
      String(port),
    ]);
    expect(requestEvent(r.stdout, { ...target, port }, 7).outcome).toBe('refused');
  });

  test.each([
    ['not JSON', 'Segmentation fault', /^the lab's request tool's answer is not JSON: /],
    ['an unknown outcome', '{"outcome":"maybe","latencyMs":1,"local":"","reply":""}', /outcome: /],
    ['a missing field', '{"outcome":"answered","latencyMs":1,"local":""}', /reply: /],
  ])('%s is one error naming the field, with the fix', (_name, stdout, message) => {
    expect(() => requestEvent(stdout, target, 7)).toThrow(
      expect.objectContaining({ message: expect.stringMatching(message), hint: 'rebuild it: npm run build' }),
    );
  });
});

describe('the load tool, read back', () => {
  test('one second of connections from a given source: counted, and the failures apart', async () => {
    const [tool, ...args] = loadCommand(target, 1, 2, ['127.0.0.1']);
    const r = await execa(tool!, args);
    const result = loadResult(target, r.stdout);
    expect(result.target).toBe('nginx');
    expect(result.connections).toBeGreaterThan(0);
    // on a busy machine a few connections may time out: counted apart, never more than were made
    expect(Number.isInteger(result.failed)).toBe(true);
    expect(result.failed).toBeLessThan(result.connections);
    expect(result.seconds).toBeGreaterThanOrEqual(0.9);
    // the tool rounds seconds to 1/100 and computes the rate before rounding
    expect(Math.abs(result.rate - result.connections / result.seconds)).toBeLessThan(result.rate * 0.02 + 1);
  });

  test('a negative count is refused, naming the field', () => {
    expect(() => loadResult(target, '{"connections":-1,"failed":0,"seconds":1,"rate":1}')).toThrow(
      /^the lab's load tool's result is not what natscope expects: connections: /,
    );
  });
});
