// natscope demo from recordings, without root: the verdicts as scripts see them.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { FIXTURES, tempDirForTest } from '../helpers.js';
import { natscope } from '../cli.js';

const GOOD = join(FIXTURES, 'recordings', 'walkthrough.jsonl');
const TAMPERED = join(FIXTURES, 'recordings', 'walkthrough-masquerade-all-on.jsonl');
const NFTABLES = join(FIXTURES, 'recordings', 'walkthrough-nftables.jsonl');

describe('natscope demo --replay', () => {
  test('--auto --json prints one verdict per step and exits 0 when all hold', async () => {
    const r = await natscope(['demo', '--replay', GOOD, '--auto', '--json']);
    expect(r.exitCode).toBe(0);
    const lines = String(r.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.step, l.ok])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [n, true]));
    for (const l of lines) expect(Object.keys(l)).toEqual(['step', 'title', 'ok', 'evidence', 'claims']);
  });

  test('a walkthrough recorded in nftables mode replays in that mode: ten verdicts, exit 0, the mode in the header', async () => {
    const r = await natscope(['demo', '--replay', NFTABLES, '--auto', '--json', '--proxy-mode', 'nftables']);
    expect(r.exitCode).toBe(0);
    const lines = String(r.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.step, l.ok])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [n, true]));
    expect(lines[6].title).toBe('The fix: nftables.masqueradeAll');
    const text = await natscope(['demo', '--replay', NFTABLES, '--auto', '--step', '10']);
    expect(String(text.stdout).split('\n')[0]).toBe(
      `natscope demo: the incident, step by step (replaying ${NFTABLES}, kube-proxy in nftables mode).`,
    );
    const asked = await natscope(['demo', '--replay', NFTABLES, '--auto', '--proxy-mode', 'iptables']);
    expect(asked.exitCode).toBe(2);
    expect(asked.stderr).toMatch(
      /walkthrough-nftables\.jsonl was recorded with kube-proxy in nftables mode, and this asks for iptables mode\n/,
    );
  });

  test('a tampered run exits 1 and names the failing step and what it saw', async () => {
    const r = await natscope(['demo', '--replay', TAMPERED, '--auto']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(
      /━━ Step 2\/10 · The symptom[\s\S]*✗ mysql's ClusterIP hangs \(no answer\)\n\s+saw instead: answered in/,
    );
  });

  test.each([
    [['--step', '11'], /there is no step 11\n {2}fix: steps are 1 to 10/],
    [['--record', '/tmp/x.jsonl'], /--record and --replay do not go together/],
    [
      ['--proxy-mode', 'nftables'],
      /^natscope: \S+walkthrough\.jsonl was recorded with kube-proxy in iptables mode, and this asks for nftables mode\n {2}fix: leave out --proxy-mode \(the walkthrough follows the recording\), or replay a walkthrough recorded in nftables mode$/,
    ],
  ])('bad options %j: one clear line, exit 2', async (extra, message) => {
    const r = await natscope(['demo', '--replay', GOOD, '--auto', ...extra]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  test('--proxy-mode naming the mode a recording was made in is accepted', async () => {
    const r = await natscope(['demo', '--replay', GOOD, '--auto', '--json', '--proxy-mode', 'iptables']);
    expect(r.exitCode).toBe(0);
  });

  test("the header names kube-proxy's mode the walkthrough tells", async () => {
    const r = await natscope(['demo', '--replay', GOOD, '--auto', '--step', '10']);
    expect(String(r.stdout).split('\n')[0]).toBe(
      `natscope demo: the incident, step by step (replaying ${GOOD}, kube-proxy in iptables mode).`,
    );
  });

  test('a recording without a lab status is refused', async () => {
    const dir = tempDirForTest('natscope-demo-');
    const file = join(dir, 'no-status.jsonl');
    writeFileSync(
      file,
      readFileSync(GOOD, 'utf8')
        .split('\n')
        .filter((l) => l && !l.includes('"kind":"status"'))
        .join('\n'),
    );
    const r = await natscope(['demo', '--replay', file, '--auto']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /no-status\.jsonl holds no lab status event\n {2}fix: record a walkthrough with: natscope demo --auto --record FILE/,
    );
  });

  test('a recording that does not exist is refused', async () => {
    const r = await natscope(['demo', '--replay', join(FIXTURES, 'recordings', 'missing.jsonl'), '--auto']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/replay file .* does not exist/);
  });
});
