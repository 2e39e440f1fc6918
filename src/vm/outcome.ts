// The decisions of a micro-VM run, as data: while qemu runs, whether the
// guest has reached the command, is still booting or should be given up on
// (a KVM guest that hangs is retried under TCG); once qemu has exited, what
// exit code, failure and detail the run reports, from why natscope killed
// qemu (if it did), the command's exit code file and what qemu and the
// console said.

import { EXIT } from '../errors.js';
import { shown } from '../events/fields.js';
import type { Accel } from './qemu.js';

// why natscope killed qemu (null: it did not)
export type KilledFor = 'timeout' | 'stop' | 'kvm-retry' | null;

// How long a guest may take to reach the command before natscope gives up on it:
// KVM is retried under software emulation, which is left to the overall timeout.
export function bootGiveUpMs(accel: Accel, kvmBootTimeoutMs = 20_000): number {
  return accel === 'kvm' ? kvmBootTimeoutMs : Number.POSITIVE_INFINITY;
}

export interface BootWatch {
  qemuExited: boolean;
  // the guest wrote its "started" file
  commandStarted: boolean;
  elapsedMs: number;
  giveUpMs: number;
}

// One look at a booting guest.
export function bootStep(watch: BootWatch): 'exited' | 'started' | 'give-up' | 'booting' {
  if (watch.qemuExited) return 'exited';
  if (watch.commandStarted) return 'started';
  if (watch.elapsedMs > watch.giveUpMs) return 'give-up';
  return 'booting';
}

export interface VmEnding {
  killedFor: KilledFor;
  bootMs: number | null;
  timeoutMs: number;
  // the guest's rc file (null: never written)
  rcText: string | null;
  qemuStderr: string;
  // how qemu itself ended: a signal natscope did not send means someone else killed it;
  // `error`: why it could not be started at all
  qemuExit: { code: number | null; signal: string | null; error: string | null };
  // the last lines of the guest's console
  consoleTail: string;
}

export interface VmVerdict {
  exitCode: number;
  // why natscope, not the command, decided the exit code
  failure: null | 'timeout' | 'vm' | 'stopped';
  detail: string | null;
  // why the command never started, for whoever still waits for it (null: it ran)
  notStarted: string | null;
}

export function vmVerdict(ending: VmEnding): VmVerdict {
  const { killedFor, bootMs, consoleTail: tail } = ending;
  if (killedFor === 'timeout') {
    const reason =
      bootMs === null
        ? `the VM did not boot within ${ending.timeoutMs / 1000} s`
        : `the command did not finish within ${ending.timeoutMs / 1000} s`;
    return {
      exitCode: EXIT.timeout,
      failure: 'timeout',
      detail: bootMs === null ? `${reason}; console:\n${tail}` : reason,
      notStarted: reason,
    };
  }
  if (killedFor === 'stop') {
    return { exitCode: EXIT.interrupted, failure: 'stopped', detail: 'stopped', notStarted: 'the VM was stopped' };
  }
  const rcText = ending.rcText;
  if (rcText === null || !/^\d+\s*$/.test(rcText)) {
    const why =
      ending.qemuStderr.trim().split('\n').pop() ||
      (rcText === null ? silentEnd(ending) : `the command's exit code file holds ${shown(rcText)}, not a number`);
    return {
      exitCode: EXIT.vmFailure,
      failure: 'vm',
      detail: `${why}${tail ? `; console:\n${tail}` : ''}`,
      notStarted: why,
    };
  }
  return { exitCode: Number(rcText.trim()), failure: null, detail: null, notStarted: null };
}

// Why a VM ended without the command's exit code when qemu said nothing.
function silentEnd({ qemuExit, bootMs }: VmEnding): string {
  if (qemuExit.error !== null) return `qemu could not run: ${qemuExit.error}`;
  if (qemuExit.signal === 'SIGKILL')
    return "qemu was killed by SIGKILL, not by natscope (the kernel's OOM killer sends it: see dmesg)";
  if (qemuExit.signal !== null) return `qemu was killed by ${qemuExit.signal}, not by natscope`;
  const when = bootMs === null ? 'before the command started' : 'before the command finished';
  // a guest that powers off, or whose kernel panics (-no-reboot), ends qemu with code 0
  const how = qemuExit.code === 0 ? 'the guest powered off or its kernel panicked (see the console)' : null;
  return `the VM stopped ${when}${how ? `: ${how}` : ` (qemu exit code ${qemuExit.code ?? 'unknown'})`}`;
}

// The guest kernel's panic, from its console ("Kernel panic - not syncing:
// …", without the timestamp), or null. Under software emulation a guest
// kernel has been seen to panic while booting on one run in many (an int3
// trap while it patches its own code at boot): such a boot is tried again.
export function kernelPanic(consoleText: string): string | null {
  const m = /Kernel panic - not syncing: [^\r\n]*/.exec(consoleText);
  return m ? m[0].slice(0, 200) : null;
}

// The lines of a guest console worth showing: its last lines, and before them
// the kernel's first complaint (a panic's cause scrolls away under its stack trace).
const KERNEL_COMPLAINT = /Kernel panic|BUG:|Oops|Out of memory|oom-kill|hung_task|soft lockup/;

export function consoleExcerpt(text: string, lines = 15): string {
  // a serial console ends its lines with CR LF
  const all = text.trim().split(/\r?\n/);
  const tail = all.slice(-lines);
  const first = all.findIndex((l) => KERNEL_COMPLAINT.test(l));
  if (first < 0 || first >= all.length - lines) return tail.join('\n');
  return [all[first]!, '…', ...tail].join('\n');
}
