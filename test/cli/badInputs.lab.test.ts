// The bad inputs of test/cli/badInputs.ts that need root to reach their
// check (a lab's setting, a record file, a micro-VM share, the environment
// natscope reads as root): the same answer and the same "nothing left" as
// badInputs.test.ts's, on this host (--vm off where it matters). The ones
// whose check is the lab's run while a netns lab of their own is up.

import { chmodSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { natscope } from '../cli.js';
import { testTempDir } from '../helpers.js';
import { BAD_INPUTS } from './badInputs.js';
import { expectAnswered, runBadInput } from './badInputRun.js';

const parent = testTempDir('natscope-badinputs-');
beforeAll(() => chmodSync(parent, 0o755));

const cases = (lab: boolean) =>
  BAD_INPUTS.filter((c) => c.root && Boolean(c.lab) === lab).map((c) => [c.what, c] as const);

describe('as root, a bad input gets one line saying what is wrong, one saying what to do, and leaves nothing', () => {
  test.each(cases(false))('%s', async (_what, input) => {
    expectAnswered(input, await runBadInput(input, parent));
  });
});

describe('with a lab up, a bad target, node or host gets the same', () => {
  let state = '';
  const lab = (...args: string[]) =>
    natscope(['lab', ...args, '--vm', 'off', '--prefix', 'bi-'], { env: { NATSCOPE_STATE_DIR: state } });
  beforeAll(async () => {
    state = mkdtempSync(join(parent, 'lab-'));
    const up = await lab('up');
    expect(up.exitCode, String(up.stderr)).toBe(0);
  });
  afterAll(async () => {
    expect((await lab('down')).exitCode).toBe(0);
  });

  test.each(cases(true))('%s', async (_what, input) => {
    expectAnswered(input, await runBadInput(input, parent, state));
  });
});
