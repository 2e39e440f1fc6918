// natscope killed (SIGKILL) at random moments of `trace`, `tui` and `demo`
// on this host (root, --vm off): whatever the moment, no bpftrace or other
// process of the killed run outlives it, the next run sweeps the run folder
// it left, no namespace appears but the lab's own, and `lab down` leaves
// nothing. The moments come from a seeded generator (NATSCOPE_KILL_SEED
// repeats a run); NATSCOPE_KILL_CYCLES raises the suite's few cycles.

import { mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { helperPath } from '../../src/lab/netns/build.js';
import { NAMESPACES, netnsName } from '../../src/lab/netns/topology.js';
import { CLI, natscope } from '../cli.js';
import { namedNamespaces, testTempDir } from '../helpers.js';
import { killIfRunning, mulberry32 } from '../processes.js';
import { TmuxSession } from '../tmux.js';

// the suite's share per command; NATSCOPE_KILL_CYCLES=30 for the longer run the docs report
const CYCLES = Number(process.env.NATSCOPE_KILL_CYCLES ?? 3);
const SEED = Number(process.env.NATSCOPE_KILL_SEED ?? Date.now() % 1_000_000_007);
const PREFIX = 'natscope-k9t-';

// This file's own state folder (lab state, locks, run folders): what a killed run leaves is told apart from the rest.
const dir = testTempDir('natscope-kill9-');
let STATE = '';
const env = () => ({ NATSCOPE_STATE_DIR: STATE });
const lab = (...args: string[]) => natscope(['lab', ...args, '--vm', 'off', '--prefix', PREFIX], { env: env() });

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

function isLabPod(pid: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/exe`) === helperPath();
  } catch {
    return false;
  }
}

// Processes of this file's runs (they carry its state folder in their environment), but the lab's pods.
function runProcesses(): { pid: number; command: string }[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((pid) => readProc(pid, 'environ').split('\0').includes(`NATSCOPE_STATE_DIR=${STATE}`))
    .filter((pid) => !isLabPod(pid))
    .map((pid) => ({ pid: Number(pid), command: readProc(pid, 'cmdline').split('\0').join(' ').trim() }));
}

function labPods(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && isLabPod(e))
    .filter((pid) => readProc(pid, 'environ').split('\0').includes(`NATSCOPE_STATE_DIR=${STATE}`))
    .map(Number);
}

const namespaces = () => new Set(namedNamespaces(''));
let namespacesBefore = new Set<string>();
// namespaces made since the file started that are not one of the lab's
const foreignNamespaces = () =>
  [...namespaces()].filter(
    (n) => !namespacesBefore.has(n) && !Object.keys(NAMESPACES).some((suffix) => n === netnsName(PREFIX, suffix)),
  );

// Run folders left in the state folder (a killed run's stay until the next run starts and sweeps them).
const runFolders = () => {
  try {
    return readdirSync(join(STATE, 'run')).filter((n) => n.startsWith('natscope-'));
  } catch {
    return [];
  }
};

// Waits for the killed run's processes to end (bpftrace ends at its next write to the gone pipe, within 100 ms of attaching).
async function processesLeft(ms = 15_000): Promise<{ pid: number; command: string }[]> {
  const end = Date.now() + ms;
  let left = runProcesses();
  while (left.length > 0 && Date.now() < end) {
    await sleep(100);
    left = runProcesses();
  }
  return left;
}

interface Tally {
  cycles: number;
  killedRunning: number;
  endedFirst: number;
  leftovers: number;
  // where the kills landed: cycles per stage
  stages: Record<string, number>;
}
const tallies = new Map<string, Tally>();

// After a kill: nothing of the run's but the lab; returns what was found, for the figures.
async function checkAfterKill(what: string, where: string, tally: Tally): Promise<void> {
  tally.cycles++;
  const left = await processesLeft();
  const foreign = foreignNamespaces();
  tally.leftovers += left.length + foreign.length;
  for (const p of left) killIfRunning(p.pid);
  expect(left, `${what}: ${where}: processes left`).toEqual([]);
  expect(foreign, `${what}: ${where}: namespaces outside the lab`).toEqual([]);
}

// One clean run after the kills: it sweeps the run folders the killed ones left (their owner is dead).
async function checkSwept(what: string): Promise<void> {
  const r = await natscope(['trace', '--vm', 'off', '--probes', 'drop', '--all-netns', '--duration', '1'], {
    env: env(),
  });
  expect(r.exitCode, `${what}: the next trace: ${r.stderr}`).toBe(0);
  expect(runFolders(), `${what}: run folders after the next start`).toEqual([]);
}

async function checkLabDown(what: string): Promise<void> {
  const down = await lab('down');
  expect(down.exitCode, `${what}: lab down: ${down.stderr}`).toBe(0);
  expect(
    [...namespaces()].filter((n) => n.startsWith(PREFIX)),
    `${what}: namespaces after lab down`,
  ).toEqual([]);
  expect(labPods(), `${what}: pods after lab down`).toEqual([]);
  expect(
    readdirSync(STATE).filter((n) => n.includes(PREFIX)),
    `${what}: lab files after lab down`,
  ).toEqual([]);
}

// Starts a command, kills it with SIGKILL at a random moment of a random stage (stages are stderr progress lines).
async function killAtRandom(
  random: () => number,
  args: string[],
  stages: { line: RegExp; spreadMs: number }[],
  tally: Tally,
): Promise<string> {
  const stage = stages[Math.floor(random() * stages.length)]!;
  const delay = Math.round(random() * stage.spreadMs);
  const run = execa(process.execPath, [CLI, ...args], { reject: false, env: env() });
  let progress = '';
  run.stderr?.on('data', (d: Buffer) => {
    progress += d.toString();
  });
  let exited = false;
  void run.then(() => {
    exited = true;
  });
  const deadline = Date.now() + 60_000;
  while (!exited && !stage.line.test(progress) && Date.now() < deadline) await sleep(5);
  await sleep(delay);
  if (exited) tally.endedFirst++;
  else tally.killedRunning++;
  const name = stage.line.source === '^' ? 'start' : stage.line.source;
  tally.stages[name] = (tally.stages[name] ?? 0) + 1;
  run.kill('SIGKILL');
  const r = await run;
  const last = /([^\n]+)\n?$/.exec(progress)?.[1] ?? 'nothing printed yet';
  return `killed ${delay} ms after ${stage.line.source} (exit ${r.exitCode ?? r.signal}; last line: ${last.slice(0, 120)})`;
}

beforeAll(async () => {
  STATE = mkdtempSync(join(dir, 'state-'));
  namespacesBefore = namespaces();
  await lab('down');
});

afterAll(async () => {
  await lab('down');
  for (const p of runProcesses()) killIfRunning(p.pid);
  const figures = [...tallies].map(
    ([what, t]) =>
      `${what}: ${t.cycles} cycles (${t.killedRunning} killed running, ${t.endedFirst} had ended; at ${JSON.stringify(t.stages)}), ${t.leftovers} leftovers`,
  );
  process.stderr.write(`  kill -9, seed ${SEED}:\n    ${figures.join('\n    ')}\n`);
});

describe(`kill -9 at ${CYCLES} random moments (seed ${SEED})`, () => {
  test('of trace --vm off --probes drop on a lab: no bpftrace, no run folder after the next start, no namespace outside the lab', async () => {
    const random = mulberry32(SEED);
    const tally: Tally = { cycles: 0, killedRunning: 0, endedFirst: 0, leftovers: 0, stages: {} };
    tallies.set('trace', tally);
    expect((await lab('up')).exitCode).toBe(0);
    const args = ['trace', '--vm', 'off', '--probes', 'drop', '--prefix', PREFIX, '--json'];
    // its start, bpftrace compiling, tracing
    const stages = [
      { line: /^/, spreadMs: 600 },
      { line: /attaching/, spreadMs: 3000 },
      { line: /attached in/, spreadMs: 1500 },
    ];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const where = `cycle ${cycle}: ${await killAtRandom(random, args, stages, tally)}`;
      await checkAfterKill('trace', where, tally);
    }
    await checkSwept('trace');
    await checkLabDown('trace');
  }, 900_000);

  test('of the live tui (--vm off --probes drop, in a terminal), which brings the lab up itself: the same', async () => {
    const random = mulberry32(SEED + 1);
    const tally: Tally = { cycles: 0, killedRunning: 0, endedFirst: 0, leftovers: 0, stages: {} };
    tallies.set('tui', tally);
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      // half the time the lab is down, so that the kill may land in the TUI's own lab up
      if (random() < 0.5) expect((await lab('down')).exitCode).toBe(0);
      const delay = Math.round(random() * 6000);
      const terminal = new TmuxSession(`k9-${cycle}`);
      terminal.start(
        `exec env NATSCOPE_STATE_DIR='${STATE}' LANG=C.UTF-8 '${process.execPath}' '${CLI}' tui --vm off --probes drop --prefix ${PREFIX}`,
        120,
        40,
      );
      const pid = terminal.panePid();
      await sleep(delay);
      let screen = '';
      try {
        screen = terminal.screen();
      } catch {
        // the pane ended already
      }
      const name = delay < 2000 ? 'first 2 s' : 'later';
      tally.stages[name] = (tally.stages[name] ?? 0) + 1;
      if (readProc(String(pid), 'cmdline').includes(CLI)) {
        tally.killedRunning++;
        killIfRunning(pid);
      } else tally.endedFirst++;
      await terminal.close();
      const shown = screen.split('\n').find((l) => /attach|tracing|lab|failed/i.test(l)) ?? '';
      await checkAfterKill('tui', `cycle ${cycle}: killed ${delay} ms after its start (${shown.trim()})`, tally);
    }
    await checkSwept('tui');
    await checkLabDown('tui');
  }, 900_000);

  test('of demo --vm off --auto, which brings the lab up and starts the tracer: the same', async () => {
    const random = mulberry32(SEED + 2);
    const tally: Tally = { cycles: 0, killedRunning: 0, endedFirst: 0, leftovers: 0, stages: {} };
    tallies.set('demo', tally);
    const args = ['demo', '--vm', 'off', '--auto', '--prefix', PREFIX];
    // its start, the lab coming up, bpftrace compiling (where function probes are locked down the demo stops there, with an error)
    const stages = [
      { line: /^/, spreadMs: 600 },
      { line: /namespaces/, spreadMs: 500 },
      { line: /attaching probes/, spreadMs: 2500 },
    ];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      if (random() < 0.5) expect((await lab('down')).exitCode).toBe(0);
      const where = `cycle ${cycle}: ${await killAtRandom(random, args, stages, tally)}`;
      await checkAfterKill('demo', where, tally);
    }
    await checkSwept('demo');
    await checkLabDown('demo');
  }, 900_000);
});
