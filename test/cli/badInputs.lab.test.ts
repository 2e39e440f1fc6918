// The bad inputs of test/cli/badInputs.ts that need root to reach their
// check (a lab's setting, a record file, a micro-VM share, the environment
// natscope reads as root): the same answer and the same "nothing left" as
// badInputs.test.ts's, on this host (--vm off where it matters).

import { chmodSync } from 'node:fs';
import { beforeAll, describe, test } from 'vitest';
import { testTempDir } from '../helpers.js';
import { BAD_INPUTS } from './badInputs.js';
import { expectAnswered, runBadInput } from './badInputRun.js';

const parent = testTempDir('natscope-badinputs-');
beforeAll(() => chmodSync(parent, 0o755));

describe('as root, a bad input gets one line saying what is wrong, one saying what to do, and leaves nothing', () => {
  test.each(BAD_INPUTS.filter((c) => c.root).map((c) => [c.what, c] as const))('%s', async (_what, input) => {
    expectAnswered(input, await runBadInput(input, parent));
  });
});
