// Who holds a lock or a run folder: a process named by its pid and its start
// time, so that a pid the kernel has since given to another process does not
// count as the owner still running.

import { readFileSync } from 'node:fs';

export interface Owner {
  pid: number;
  // clock ticks after boot (/proc/<pid>/stat, field 22); null if unknown
  start: number | null;
}

export function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isSafeInteger(start) ? start : null;
  } catch {
    return null;
  }
}

export function self(): Owner {
  return { pid: process.pid, start: processStart(process.pid) };
}

// The owner is still running: its pid exists (not a zombie) and started when it did.
export function ownerRunning(owner: Owner): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${owner.pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat[stat.lastIndexOf(')') + 2];
  if (state === 'Z' || state === 'X') return false;
  return owner.start === null || processStart(owner.pid) === owner.start;
}

export function formatOwner(owner: Owner): string {
  return `${owner.pid} ${owner.start ?? '?'}\n`;
}

// "pid start" as formatOwner writes it; null for anything else.
export function parseOwner(text: string): Owner | null {
  const m = /^([1-9]\d{0,9}) (\d{1,20}|\?)\n?$/.exec(text);
  if (!m) return null;
  const pid = Number(m[1]);
  const start = m[2] === '?' ? null : Number(m[2]);
  if (!Number.isSafeInteger(pid) || (start !== null && !Number.isSafeInteger(start))) return null;
  return { pid, start };
}
