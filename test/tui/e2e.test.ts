// The real binary in a real terminal: natscope tui --replay inside tmux,
// driven with send-keys and read with capture-pane. Needs no root; needs
// tmux and a built dist/ (npm run build; the test setup builds it).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/events/codec.js';
import { TmuxSession } from '../tmux.js';
import { INCIDENT } from './fixture.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const terminal = new TmuxSession('tui');
const screen = () => terminal.screen();
const keys = (...k: string[]) => terminal.keys(...k);
const waitFor = (check: (s: string) => boolean, what: string, ms?: number) => terminal.waitFor(check, what, ms);
let dir = '';

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error('dist/src/main.js is missing: run npm run build first');
  dir = await mkdtemp(join(tmpdir(), 'natscope-tui-e2e-'));
  terminal.start(
    `cd '${dir}' && env LANG=C.UTF-8 node '${MAIN}' tui --replay '${INCIDENT}' --speed 0; echo "natscope exited $?"; sleep 120`,
    120,
    40,
  );
});

afterAll(async () => {
  await terminal.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('natscope tui --replay in tmux (120×40)', () => {
  it('shows both NAT panes, the drop and a flow path', async () => {
    const s = await waitFor((t) => t.includes('NETFILTER_DROP') && t.includes('(at once, ended)'), 'the replay to end');
    expect(s).toContain('masqueradeAll OFF');
    expect(s).toMatch(/DNAT · destination rewritten.*┬── SNAT · source rewritten/);
    expect(s).toMatch(/node1 +192\.168\.10\.10:44600 → 10\.96\.207\.61:3306/);
    expect(s).toContain('10.0.1.11:40476 →');
    expect(s).toContain('vpn    ✗ NETFILTER_DROP ×5  10.244.2.2:3306 (mysql) → 192.168.10.10:44600 (office) SYN-ACK');
    expect(s).toContain('a reply the VPN never saw a request for');
    expect(s).toContain('+ SNAT ⇒ 10.0.1.11] → node2 → mysql');
  });

  it('↑ selects the broken mysql flow and shows its path to the drop', async () => {
    for (let i = 0; i < 20 && !screen().includes('▶#2 '); i++) await keys('k');
    const s = await waitFor((t) => t.includes('▶#2 '), 'flow #2 selected');
    const path = s.replace(/\n {4}/g, ' ');
    expect(path).toContain(
      '#2 office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP',
    );
    expect(s).toContain('mysql via service: timed out after 3003.4 ms');
  });

  it('Enter opens the flow details and Esc closes them', async () => {
    await keys('Enter');
    await waitFor(
      (t) => t.includes('Flow details') && t.includes('DROP NETFILTER_DROP at nft_do_chain'),
      'the details',
    );
    await keys('Escape');
    await waitFor((t) => !t.includes('Flow details'), 'the details to close');
  });

  it('m, r and c say that a recording cannot act', async () => {
    for (const k of ['m', 'r', 'c']) {
      await keys(k);
      const s = await waitFor((t) => t.includes('replay: commands need a live lab'), `the refusal of ${k}`);
      // no picker, no prompt: nothing to send a command to
      expect(s).not.toContain('Request from the office');
      expect(s).not.toContain('clusterCIDR (a CIDR');
      expect(s).toContain('masqueradeAll OFF');
    }
  });

  it('/ filters the panes by Service and an empty filter clears it', async () => {
    await keys('/', 'n', 'g', 'i', 'n', 'x', 'Enter');
    const s = await waitFor((t) => t.includes('filter: nginx'), 'the filter');
    expect(s).toContain('10.96.48.29:80');
    expect(s).not.toContain('10.96.207.61:3306 →');
    await keys('/', 'C-u', 'Enter');
    await waitFor((t) => !t.includes('filter: nginx'), 'the filter to clear');
  });

  it('p pauses and resumes, ? shows the help', async () => {
    await keys('p');
    await waitFor((t) => t.includes('PAUSED'), 'PAUSED');
    await keys('p');
    await waitFor((t) => !t.includes('PAUSED'), 'resume');
    await keys('?');
    await waitFor((t) => t.includes('toggle kube-proxy masqueradeAll'), 'the help');
    await keys('Escape');
    await waitFor((t) => !t.includes('toggle kube-proxy masqueradeAll'), 'the help to close');
  });

  it('stacks the panes when the terminal narrows and names the minimum when it is too small', async () => {
    terminal.run('resize-window', '-t', 'tui', '-x', '70', '-y', '24');
    const narrow = await waitFor((t) => t.split('\n').some((l) => l.startsWith('── SNAT')), 'stacked panes');
    expect(narrow.split('\n').find((l) => l.startsWith('── DNAT'))).not.toContain('SNAT');
    terminal.run('resize-window', '-t', 'tui', '-x', '50', '-y', '15');
    await waitFor(
      (t) => t.includes('needs at least 60×20') && t.includes('this terminal is 50×15'),
      'the minimum size',
    );
    terminal.run('resize-window', '-t', 'tui', '-x', '120', '-y', '40');
    await waitFor((t) => t.includes('┬── SNAT'), 'side by side again');
  });

  it('s saves the session as JSONL that decodes', async () => {
    await keys('s');
    await waitFor((t) => t.includes('saved 70 events'), 'the save');
    const saved = readdirSync(dir).filter((f) => f.startsWith('natscope-tui-') && f.endsWith('.jsonl'));
    expect(saved).toHaveLength(1);
    const lines = readFileSync(join(dir, saved[0]!), 'utf8').trim().split('\n');
    expect(lines.map((l, i) => decodeEvent(l, i + 1).kind)).toContain('drop');
  });

  it('q quits with exit code 0 and gives the terminal back', async () => {
    await keys('q');
    const s = await waitFor((t) => t.includes('natscope exited 0'), 'the exit');
    expect(s).not.toContain('NETFILTER_DROP');
  });
});
