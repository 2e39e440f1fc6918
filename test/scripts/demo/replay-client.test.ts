// The replay's agent stand-in answering ruleTrace from a recording: the
// traced request's event and the rule path recorded after it, checked as a
// live agent's reply is; and a recording made before rule paths were
// recorded, refused with what to do.

import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RuleTraceSchema } from '../../../src/ruletrace/rulePath.js';
import type { NatscopeEvent } from '../../../src/events/types.js';
import { ReplayClient } from '../../../scripts/demo/replay-client.js';
import { FIXTURES, recordedEvents } from '../../helpers.js';

const RECORDINGS = [
  join(FIXTURES, 'recordings', 'walkthrough.jsonl'),
  join(FIXTURES, 'recordings', 'walkthrough-nftables.jsonl'),
];

function client(events: NatscopeEvent[]) {
  const delivered: NatscopeEvent[] = [];
  const c = new ReplayClient(events);
  c.onEvent((e) => delivered.push(e));
  c.start();
  return { c, delivered };
}

describe.each(RECORDINGS)('ruleTrace replayed from %s', (path) => {
  const recorded = recordedEvents(path);
  const paths = recorded.filter((e) => e.kind === 'observation' && e.what === 'rulePath');

  test('is answered with the recorded request and the rule path recorded after it, in order', async () => {
    const { c, delivered } = client(recorded);
    const first = await c.call({ cmd: 'ruleTrace', target: 'mysql', timeoutMs: 3000 });
    expect(RuleTraceSchema.parse(first)).toEqual(first);
    const observed = paths[0];
    expect(observed?.kind === 'observation' && observed.what === 'rulePath' ? observed.result : null).toEqual(
      first.rulePath,
    );
    // the request event is the one the recording holds just before that rule path, and both were delivered
    const request = delivered.findLast((e) => e.kind === 'request');
    expect(request).toEqual(first.request);
    expect(delivered.at(-1)).toBe(observed);
    expect(first.request.sport).toBeGreaterThanOrEqual(20000);
    expect(first.request.sport).toBeLessThanOrEqual(29999);
  });

  test('the next traced request and the next plain request are the later ones of the run', async () => {
    const { c } = client(recorded);
    const before = await c.call({ cmd: 'ruleTrace', target: 'mysql', timeoutMs: 3000 });
    const after = await c.call({ cmd: 'ruleTrace', target: 'mysql', timeoutMs: 3000 });
    expect([before.request.outcome, after.request.outcome]).toEqual(['timeout', 'answered']);
    expect(after.rulePath.kubeProxy.masqueradeAll).toBe(true);
    // step 8's request: not a traced one (an ephemeral source port)
    const next = await c.call({ cmd: 'request', target: 'mysql', timeoutMs: 3000 });
    expect(next.t).toBeGreaterThan(after.request.t);
    expect(next.sport).not.toBe(after.request.sport);
    await expect(c.call({ cmd: 'ruleTrace', target: 'mysql', timeoutMs: 3000 })).rejects.toThrow(
      /^the recording holds no traced request to mysql at this point$/,
    );
  });

  test('a recording made before rule paths were recorded is refused, saying how to record one', async () => {
    const old = recorded.filter((e) => !(e.kind === 'observation' && e.what === 'rulePath'));
    const { c } = client(old);
    const error = await c.call({ cmd: 'ruleTrace', target: 'mysql', timeoutMs: 3000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      message: 'the recording holds no rule path for a request to mysql: it was recorded before rule paths were',
      hint: 'record the walkthrough again: sudo natscope demo --auto --vm on --record FILE',
    });
    // what does not need a rule path still replays from it
    expect((await c.call({ cmd: 'request', target: 'mysql', timeoutMs: 3000 })).target).toBe('mysql');
  });
});
