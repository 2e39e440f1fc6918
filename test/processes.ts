// Reading /proc for the tests that check what they started is gone (whether
// one still runs: isRunning in src/util/process.ts). A process can exit
// between any two reads, so every read treats "gone" as an answer, never as
// an error.

import { readdirSync, readFileSync } from 'node:fs';
import { errnoOf } from '../src/errors.js';

function readProc(pid: number, file: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null;
  }
}

// The fields after "pid (comm) ": comm may hold spaces and parentheses, so split after the last ')'.
function statFields(pid: number): string[] | null {
  const stat = readProc(pid, 'stat');
  return stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

// Signals a process by PID; one that exited meanwhile is already what we wanted.
export function killIfRunning(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if (errnoOf(error) !== 'ESRCH') throw error;
  }
}

export function commandName(pid: number): string | null {
  return readProc(pid, 'comm')?.trim() ?? null;
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields && Number(fields[1]) === pid) out.push(Number(entry));
  }
  return out;
}

// A small seeded generator for the kill tests: a failing run can be repeated with its seed.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
