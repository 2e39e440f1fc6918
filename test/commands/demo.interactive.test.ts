// natscope demo in a terminal (tmux): it pauses after each step, Enter goes
// on, b goes back, q quits with the summary. On a recording: no root needed.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES } from '../helpers.js';
import { CLI } from '../cli.js';
import { TmuxSession } from '../tmux.js';

const RECORDING = join(FIXTURES, 'recordings', 'walkthrough.jsonl');
const terminal = new TmuxSession('demo');
// the walkthrough scrolls: read 200 lines above the screen too
const waitFor = (text: RegExp, ms = 15_000) => terminal.waitFor((s) => text.test(s), String(text), ms, 200);

beforeAll(() => {
  terminal.start(
    `env LANG=C.UTF-8 NO_COLOR=1 node '${CLI}' demo --replay '${RECORDING}'; echo "natscope exited $?"; sleep 60`,
    100,
    50,
  );
});

afterAll(() => terminal.close());

describe('natscope demo, interactive', () => {
  test('it pauses after the first step and shows the commands it runs', async () => {
    const s = await waitFor(/Enter: next · b: back · q: quit/);
    expect(s).toContain('Step 1/10 · The setup');
    expect(s).toContain('$ natscope lab routes vpn');
    expect(s).not.toContain('Step 2/10');
  });

  test('Enter goes on to the next step', async () => {
    await terminal.keys('Enter');
    const s = await waitFor(/Step 2\/10 · The symptom[\s\S]*Enter: next/);
    expect(s).toContain("✓ mysql's ClusterIP hangs (no answer)");
  });

  test('b goes back a step, q quits with the summary', async () => {
    await terminal.keys('b', 'Enter');
    await waitFor(/Step 2\/10[\s\S]*Step 1\/10 · The setup[\s\S]*Enter: next/);
    await terminal.keys('q', 'Enter');
    const s = await waitFor(/natscope exited \d+/);
    expect(s).toMatch(/✓ 2\/2 steps verified against this run's events\./);
    expect(s).toContain('natscope exited 0');
  });
});
