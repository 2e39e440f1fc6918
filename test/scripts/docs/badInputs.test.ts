// docs/bad-inputs.md's table is the list the bad-input tests run: the
// committed page is what scripts/docs/bad-inputs.ts makes of it now.

import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { PAGE, renderPage } from '../../../scripts/docs/bad-inputs.js';
import { BAD_INPUTS } from '../../cli/badInputs.js';

test('the committed table of bad inputs is the one the tested list makes (npx tsx scripts/docs/bad-inputs.ts)', () => {
  const page = readFileSync(PAGE, 'utf8');
  expect(page).toBe(renderPage(page));
  expect(page).toContain(`${BAD_INPUTS.length} bad inputs.`);
});

test('the table lists at least 100 distinct bad inputs', () => {
  expect(
    new Set(BAD_INPUTS.map((c) => JSON.stringify([c.args, c.env, c.files && Object.keys(c.files), c.what]))).size,
  ).toBeGreaterThanOrEqual(100);
});
