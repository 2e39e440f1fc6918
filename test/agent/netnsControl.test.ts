// What a command says when the micro-VM lab that is up was started by an
// older natscope (a lab left up across an upgrade): its broker reads a
// trace request with its own, older schema and may drop a newer field.

import { describe, expect, test } from 'vitest';
import { olderAgentWarning } from '../../src/agent/netnsControl.js';
import { PROTOCOL_REVISION } from '../../src/agent/protocol.js';

describe('a lab whose agent is older than protocol revisions', () => {
  test('a trace with --attach-timeout is warned, with the commands that start the lab again under this natscope', () => {
    expect(olderAgentWarning(undefined, { attachTimeoutMs: 1000 }, 'natscope-')).toBe(
      'the micro-VM lab that is up was started by an older natscope, which may not take --attach-timeout (it then keeps its own 90 s); to use it, start the lab again with this natscope: sudo natscope lab down && sudo natscope lab up --vm on',
    );
    expect(olderAgentWarning(undefined, { attachTimeoutMs: 1000 }, 'lab2-')).toContain(
      'sudo natscope lab down --prefix lab2- && sudo natscope lab up --vm on --prefix lab2-',
    );
  });

  test('nothing to say when no newer option was given, or the agent says its revision (it refuses what it does not take)', () => {
    expect(olderAgentWarning(undefined, {}, 'natscope-')).toBeNull();
    expect(olderAgentWarning(undefined, { attachTimeoutMs: undefined, probes: ['drop'] }, 'natscope-')).toBeNull();
    expect(olderAgentWarning(PROTOCOL_REVISION, { attachTimeoutMs: 1000 }, 'natscope-')).toBeNull();
  });
});
