// Signals to processes natscope started, by PID.

import { readFileSync } from 'node:fs';

// Exists: signal 0 reaches it, or is refused (EPERM: another user's process).
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Running: exists, and is neither a zombie waiting to be reaped nor dead.
// (isAlive says yes to a zombie: it can still be signalled.)
export function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) state …": comm may hold spaces and parentheses
  const state = stat[stat.lastIndexOf(')') + 2];
  return state !== 'Z' && state !== 'X';
}

// The whole process group (a detached child leads its own), or the process alone if it has none.
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
