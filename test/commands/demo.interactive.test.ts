// natscope demo in a terminal (tmux): it pauses after each step, Enter goes
// on, b goes back, q quits with the summary. On a recording: no root needed.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FIXTURES } from '../helpers.js';
import { CLI } from '../cli.js';

const RECORDING = join(FIXTURES, 'recordings', 'walkthrough.jsonl');
// a private tmux server: killing it touches only this test's session
const SOCKET = `natscope-demo-${process.pid}-${Date.now()}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const screen = () => tmux('capture-pane', '-p', '-S', '-200', '-t', 'demo');

async function waitFor(text: RegExp, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = screen();
    if (text.test(last)) return last;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${text}; the screen was:\n${last}`);
}

beforeAll(() => {
  tmux('new-session', '-d', '-s', 'demo', '-x', '100', '-y', '50', `env LANG=C.UTF-8 NO_COLOR=1 node '${CLI}' demo --replay '${RECORDING}'; echo "natscope exited $?"; sleep 60`);
});

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
});

describe('natscope demo, interactive', () => {
  test('it pauses after the first step and shows the commands it runs', async () => {
    const s = await waitFor(/Enter: next · b: back · q: quit/);
    expect(s).toContain('Step 1/10 · The setup');
    expect(s).toContain('$ natscope lab routes vpn');
    expect(s).not.toContain('Step 2/10');
  });

  test('Enter goes on to the next step', async () => {
    tmux('send-keys', '-t', 'demo', 'Enter');
    const s = await waitFor(/Step 2\/10 · The symptom[\s\S]*Enter: next/);
    expect(s).toContain('✓ mysql\'s ClusterIP hangs (no answer)');
  });

  test('b goes back a step, q quits with the summary', async () => {
    tmux('send-keys', '-t', 'demo', 'b', 'Enter');
    await waitFor(/Step 2\/10[\s\S]*Step 1\/10 · The setup[\s\S]*Enter: next/);
    tmux('send-keys', '-t', 'demo', 'q', 'Enter');
    const s = await waitFor(/natscope exited \d+/);
    expect(s).toMatch(/✓ 2\/2 steps verified against this run's events\./);
    expect(s).toContain('natscope exited 0');
  });
});
