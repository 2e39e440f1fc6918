// Runs one bad input (test/cli/badInputs.ts) through the built CLI, as a
// user would, and collects what a test checks: the exit code, stderr with
// the case's folder shown as {tmp}, whether it hung, and what it left (a
// process of its own, a file in its state folder, a namespace of its lab).

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { expect } from 'vitest';
import { CLI } from '../cli.js';
import type { BadInput } from './badInputs.js';

export const NOBODY = 65534;
// long enough for a slow start on a busy machine; a hang is far longer
const TIMEOUT_MS = 30_000;

export interface BadInputResult {
  exitCode: number | undefined;
  stderr: string;
  timedOut: boolean;
  leftovers: string[];
}

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

// Processes that carry the case's folder in their environment (everything natscope started inherits it).
function processesOf(marker: string): string[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((pid) => readProc(pid, 'environ').split('\0').includes(marker))
    .map((pid) => `process ${pid}: ${readProc(pid, 'cmdline').split('\0').join(' ').trim()}`);
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const fill = (s: string, tmp: string) => s.replaceAll('{tmp}', tmp);

// natscope's rule trace table (src/ruletrace/traceTable.ts) in the cases' lab namespaces: a trace --rules case must not leave one.
function traceTables(): string[] {
  return entries('/run/netns')
    .filter((n) => n.startsWith('bi-'))
    .filter((n) => {
      const r = spawnSync('ip', ['netns', 'exec', n, 'nft', 'list', 'tables'], { encoding: 'utf8' });
      return String(r.stdout).includes('natscope-trace');
    })
    .map((n) => `table natscope-trace in ${n}`);
}

// `parent` is a folder the case's own folder is made in (world-traversable for the unprivileged ones).
// `labState` is the state folder of the lab the `lab` cases need up.
export async function runBadInput(input: BadInput, parent: string, labState?: string): Promise<BadInputResult> {
  const tmp = mkdtempSync(join(parent, 'case-'));
  chmodSync(tmp, 0o755);
  for (const [name, make] of Object.entries(input.files ?? {})) make(join(tmp, name));
  const state = input.lab && labState ? labState : join(tmp, 'state');
  const stateBefore = new Set(entries(state));
  const marker = `NATSCOPE_BAD_INPUT=${tmp}`;
  const env: Record<string, string> = { NATSCOPE_STATE_DIR: state, NATSCOPE_BAD_INPUT: tmp };
  for (const [k, v] of Object.entries(input.env ?? {})) env[k] = fill(v, tmp);
  const namespacesBefore = new Set(entries('/run/netns'));
  const r = await execa(process.execPath, [CLI, ...input.args.map((a) => fill(a, tmp))], {
    reject: false,
    timeout: TIMEOUT_MS,
    cwd: tmp,
    env,
    stdin: 'ignore',
    ...(input.user && process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  // what the run started has a moment to go (a killed child's children)
  let left = processesOf(marker);
  for (let i = 0; i < 20 && left.length > 0; i++) {
    await sleep(100);
    left = processesOf(marker);
  }
  const leftovers = [
    ...left,
    ...entries(state)
      .filter((f) => !stateBefore.has(f))
      .map((f) => `state file ${f}`),
    ...entries('/run/netns')
      .filter((n) => !namespacesBefore.has(n) && n.startsWith('bi-'))
      .map((n) => `namespace ${n}`),
    ...(input.lab ? traceTables() : []),
  ];
  return {
    exitCode: r.exitCode,
    stderr: String(r.stderr).replaceAll(tmp, '{tmp}'),
    timedOut: Boolean(r.timedOut),
    leftovers,
  };
}

// Progress lines (`[trace   0.1 s] …`) come before an error that is found on the way: they are not the answer.
const PROGRESS = /^\[\w+ +[\d.]+ s\] /;

// What every case must come to: its own answer, exactly, and nothing left (one comparison, so that a failure shows it all).
export function expectAnswered(input: BadInput, r: BadInputResult): void {
  // natscope's internal error (70) is a bug, and 0 is no answer
  expect(r.exitCode).not.toBe(0);
  expect(r.exitCode).not.toBe(70);
  const answer = r.stderr
    .split('\n')
    .filter((l) => !PROGRESS.test(l))
    .join('\n');
  // (execa drops the last line break)
  expect({ exit: r.exitCode, stderr: answer, hung: r.timedOut, leftovers: r.leftovers }).toEqual({
    exit: input.exit,
    stderr: `natscope: ${input.error}\n  fix: ${input.fix}`,
    hung: false,
    leftovers: [],
  });
}
