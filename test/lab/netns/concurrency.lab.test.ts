// Several `lab up` of one prefix at once, and natscope killed (SIGKILL) at
// random moments of `lab up` (root): one lab at most, one clear line for the
// callers that must wait, and `lab down` always leaves no namespace, no file
// and no process behind.

import { existsSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, expect, test } from 'vitest';
import { helperPath } from '../../../src/lab/netns/build.js';
import { LabStatusSchema } from '../../../src/events/types.js';
import { CLI, jsonOutput, natscope } from '../../cli.js';
import { namedNamespaces, tempDirForTest } from '../../helpers.js';
import { mulberry32 } from '../../processes.js';

const STATE_DIR = '/run/natscope';
const STARTING_LINE = fileURLToPath(new URL('./startingLine.mjs', import.meta.url));
// lab up's progress steps (src/lab/netns/build.ts)
const STEPS = [
  'namespaces',
  'links',
  'addresses and routes',
  "forwarding, the vpn's cloud-fabric rule, kube-proxy rules",
  'pods',
];
// the suite's share; NATSCOPE_KILL_CYCLES=200 for a longer run
const CYCLES = Number(process.env.NATSCOPE_KILL_CYCLES ?? 25);

const lab = (prefix: string, ...args: string[]) => natscope(['lab', ...args, '--vm', 'off', '--prefix', prefix]);

// the state, its lock, a temp file of a write cut short
function filesOf(prefix: string): string[] {
  if (!existsSync(STATE_DIR)) return [];
  return readdirSync(STATE_DIR).filter((n) => n.startsWith(prefix) || n.startsWith(`.${prefix}`));
}

// The lab's pods (and load generators): natscope's helper, running.
function helpersRunning(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`) === helperPath();
      } catch {
        return false;
      }
    })
    .map(Number);
}

afterAll(async () => {
  for (const prefix of ['natscope-cc-', 'natscope-k9-']) await lab(prefix, 'down');
});

test('10 lab up at once with one prefix: exactly one lab; the nine others are refused in one line naming its pid, with a fix', async () => {
  const prefix = 'natscope-cc-';
  await lab(prefix, 'down');
  const line = tempDirForTest('natscope-startingline-');
  const ups = Array.from({ length: 10 }, () =>
    execa(process.execPath, ['--import', STARTING_LINE, CLI, 'lab', 'up', '--vm', 'off', '--prefix', prefix], {
      reject: false,
      timeout: 120_000,
      env: { NATSCOPE_TEST_STARTING_LINE: line },
    }),
  );
  const ready = () => readdirSync(line).filter((f) => f.startsWith('ready-')).length;
  for (let i = 0; i < 3000 && ready() < 10; i++) await sleep(10);
  expect(ready()).toBe(10);
  writeFileSync(join(line, 'go'), '');
  const results = await Promise.all(ups);

  const winners = results.filter((r) => r.exitCode === 0);
  expect(winners).toHaveLength(1);
  const winnerPid = ups[results.indexOf(winners[0]!)]!.pid;
  const refusal = new RegExp(
    `^natscope: a lab up with prefix ${prefix} is in progress \\(pid (\\d+)\\)\\n  fix: wait for it to finish \\(or stop it: sudo kill \\1\\), then run this again$`,
  );
  for (const r of results.filter((x) => x.exitCode !== 0)) {
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(refusal);
    expect(Number(refusal.exec(String(r.stderr))?.[1])).toBe(winnerPid);
  }
  expect(namedNamespaces(prefix)).toHaveLength(7);
  const status = jsonOutput(LabStatusSchema, (await lab(prefix, 'status', '--json')).stdout);
  expect(status).toMatchObject({ prefix, up: true });
  expect((await lab(prefix, 'request', 'pod/nginx', '--timeout', '2')).exitCode).toBe(0);

  expect((await lab(prefix, 'down')).exitCode).toBe(0);
  expect(namedNamespaces(prefix)).toEqual([]);
  expect(filesOf(prefix)).toEqual([]);
});

test(`kill -9 at ${CYCLES} random moments of lab up: lab down always leaves no namespace, no file and no pod`, async () => {
  const prefix = 'natscope-k9-';
  await lab(prefix, 'down');
  const seed = Number(process.env.NATSCOPE_KILL_SEED ?? Date.now() % 1_000_000_007);
  const random = mulberry32(seed);
  const helpersBefore = new Set(helpersRunning());
  // where each `lab up` was when it was killed: its last progress line
  const reached = new Map<string, number>();
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    // a random step of lab up (or its start, before any step), then a random moment within it
    const target = STEPS[Math.floor(random() * (STEPS.length + 1))];
    const delay = Math.round(random() * (target ? 80 : 400));
    const up = execa(process.execPath, [CLI, 'lab', 'up', '--vm', 'off', '--prefix', prefix], { reject: false });
    let progress = '';
    up.stderr?.on('data', (d: Buffer) => {
      progress += d.toString();
    });
    let exited = false;
    void up.then(() => {
      exited = true;
    });
    while (target && !exited && !progress.includes(`] ${target}\n`)) await sleep(2);
    await sleep(delay);
    up.kill('SIGKILL');
    const result = await up;
    const last = /\] ([^\n]+)\n$/.exec(progress)?.[1] ?? 'not started building';
    const stage = result.exitCode === 0 ? 'finished' : last.replace(/ in \d.*$/, '');
    reached.set(stage, (reached.get(stage) ?? 0) + 1);

    const where = `seed ${seed}, cycle ${cycle}: killed ${delay} ms after ${target ?? 'the start'} (${stage})`;
    const down = await lab(prefix, 'down');
    expect(down.exitCode, `${where}: ${down.stderr}`).toBe(0);
    expect(namedNamespaces(prefix), where).toEqual([]);
    expect(filesOf(prefix), where).toEqual([]);
    expect(
      helpersRunning().filter((p) => !helpersBefore.has(p)),
      where,
    ).toEqual([]);
  }
  console.log(
    `kill -9 during lab up, seed ${seed}: ${CYCLES} cycles, killed at: ${JSON.stringify(Object.fromEntries(reached))}`,
  );
  // the kills landed in several steps of lab up, not all before or after it
  expect([...reached.keys()].length, JSON.stringify(Object.fromEntries(reached))).toBeGreaterThanOrEqual(4);
}, 600_000);
