// natscope trace --rules: which options go together, checked before anything runs.

import { describe, expect, test } from 'vitest';
import { checkRulesOptions } from '../../src/commands/traceRules.js';
import { NatscopeError } from '../../src/errors.js';

const ok = { rules: true, request: 'mysql', timeoutGiven: false, timeoutS: 3, others: [] };

function failure(o: Parameters<typeof checkRulesOptions>[0]): NatscopeError {
  try {
    checkRulesOptions(o);
  } catch (error) {
    if (error instanceof NatscopeError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('trace --rules options', () => {
  test('--rules with --request is accepted', () => {
    expect(() => checkRulesOptions(ok)).not.toThrow();
    expect(() => checkRulesOptions({ ...ok, timeoutGiven: true, timeoutS: 20 })).not.toThrow();
  });

  test('an empty --request is refused before any lab is looked for', () => {
    const e = failure({ ...ok, request: ' ' });
    expect(e.message).toBe('--request needs a target, and it is empty');
    expect(e.exitCode).toBe(2);
  });

  test('a --timeout past 20 s is refused: the trace holds the lab for that long', () => {
    const e = failure({ ...ok, timeoutGiven: true, timeoutS: 20.5 });
    expect(e.message).toBe('--timeout 20.5 is too long: a traced request waits 20 s at most');
    expect(e.hint).toBe(
      'sudo natscope trace --rules --request mysql --timeout 3 (a lab request answers in milliseconds or not at all)',
    );
  });

  test('--rules without --request is a usage error that shows the whole command', () => {
    const e = failure({ ...ok, request: undefined });
    expect(e.exitCode).toBe(2);
    expect(e.hint).toBe('sudo natscope trace --rules --request mysql');
  });

  test('--request or --timeout without --rules is a usage error', () => {
    expect(failure({ ...ok, rules: false }).message).toBe('--request goes with --rules');
    expect(failure({ ...ok, rules: false, request: undefined, timeoutGiven: true }).message).toBe(
      '--timeout goes with --rules',
    );
    expect(failure({ ...ok, rules: false, request: undefined, events: true }).message).toBe(
      '--events goes with --rules',
    );
  });

  test('--events with --rules and --request is accepted', () => {
    expect(() => checkRulesOptions({ ...ok, events: true })).not.toThrow();
  });

  test('--attach-timeout goes with --events, which attaches the probes', () => {
    expect(() => checkRulesOptions({ ...ok, events: true, others: ['attachTimeout'] })).not.toThrow();
    const e = failure({ ...ok, others: ['attachTimeout'] });
    expect(e.message).toBe('--attach-timeout goes with --events under --rules: a rule trace alone attaches no probes');
    expect(e.hint).toBe(
      'sudo natscope trace --rules --request mysql --events --attach-timeout 300, or leave out --attach-timeout',
    );
    expect(e.exitCode).toBe(2);
    // the event stream's own options stay refused with --events too
    expect(failure({ ...ok, events: true, others: ['attachTimeout', 'detail'] }).message).toBe(
      '--detail is an option of the event stream, not of --rules',
    );
  });

  test('an option of the event stream is refused with its own spelling', () => {
    const e = failure({ ...ok, others: ['allNetns'] });
    expect(e.message).toBe('--all-netns is an option of the event stream, not of --rules');
    expect(e.exitCode).toBe(2);
  });
});
