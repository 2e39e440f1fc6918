// Signals to processes natscope started, by PID.

import type { ChildProcess } from 'node:child_process';
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

// A child process as Node.js tracks it: once Node has reaped it, exitCode or signalCode is set.
export type ChildHandle = Pick<ChildProcess, 'pid' | 'exitCode' | 'signalCode'>;

// The whole process group of a child natscope started (a detached child leads
// its own), or the child alone if it has none. A child Node has already reaped
// is left alone: its pid is free, and with pid_max as low as 32768 a long run
// hands it to another process (or process group) before long.
export function killGroup(child: ChildHandle | undefined, signal: NodeJS.Signals): void {
  const pid = child?.pid;
  if (pid === undefined || child?.exitCode !== null || child.signalCode !== null) return;
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
