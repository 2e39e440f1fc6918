// Signals to processes natscope started, by PID.

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { errnoOf } from '../errors.js';

// Exists: signal 0 reaches it, or is refused (EPERM: another user's process).
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === 'EPERM';
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
// its own), or the child alone if it has none. Once Node has reaped the child,
// what it started may still run in its group (a wrapper script that forked),
// and the kernel keeps the number reserved as that group's id while it does:
// the group is signalled then only if no process holds the number, since one
// that does means the group is gone and the number reused (pid_max can be as
// low as 32768: a long run wraps it). The child alone is never signalled by
// number once reaped.
export function killGroup(child: ChildHandle | undefined, signal: NodeJS.Signals): void {
  if (child?.pid === undefined) return;
  const { pid } = child;
  const reaped = child.exitCode !== null || child.signalCode !== null;
  if (reaped && isAlive(pid)) return;
  try {
    process.kill(-pid, signal);
  } catch {
    if (reaped) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
