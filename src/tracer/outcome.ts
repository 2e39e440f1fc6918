// How a bpftrace run went, as the user reads it, decided from records (its
// exit, its stderr, whether it had attached and whether natscope stopped
// it) so that each explanation is tested as data: why it never attached
// (missing, crashed, not root, a probe the kernel refused), that it
// stopped on its own, or nothing (natscope stopped it).

import { NatscopeError } from '../errors.js';
import type { ProbeFamily } from './parse.js';
import { needsFunctionProbes } from './probes.js';
import { crashError, type DetectedBpftrace } from './version.js';

// Printed by bpftrace 0.17 on every start when it cannot raise the limit; harmless on modern kernels.
const HARMLESS_STDERR = [
  /couldn't set RLIMIT_MEMLOCK/,
  /is not traceable/,
  /^Attaching \d+ probes?/,
  /available_filter_functions/,
];

// A line of bpftrace's stderr that reports a real error.
export function isReportedError(line: string): boolean {
  return /ERROR/.test(line) && !HARMLESS_STDERR.some((re) => re.test(line));
}

// How bpftrace ended, as a user reads it: "exited with code 1", "killed by SIGKILL".
export function exitedHow(exitCode: number | null, signal: string | null): string {
  if (signal) return `killed by ${signal}`;
  return exitCode === null ? 'exited' : `exited with code ${exitCode}`;
}

export function explainBpftraceFailure(
  stderr: string,
  probes: ProbeFamily[],
  exitCode: number | null,
  root = process.getuid?.() === 0,
): NatscopeError {
  const errors = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(isReportedError);
  const first =
    errors[0]?.replace(/^ERROR:\s*/, '') ?? (stderr.trim().split('\n').pop() || `exited with code ${exitCode}`);
  if (
    /only supports running as the root user/i.test(stderr) ||
    (/Permission denied|Operation not permitted/i.test(stderr) && !root)
  ) {
    return new NatscopeError(`bpftrace needs root: ${first}`, { hint: 'run natscope with sudo' });
  }
  if (
    /Error attaching probe: '(kprobe|kfunc|kretfunc)|kprobe_events|cannot attach kprobe|kfunc\/kretfunc not available/i.test(
      stderr,
    )
  ) {
    return new NatscopeError(`the kernel refused a function probe: ${first}`, {
      hint: needsFunctionProbes(probes)
        ? 'this kernel cannot attach kernel function probes (lockdown, or no BTF trampolines; see "natscope doctor"): use --vm to trace in the micro-VM, or --probes drop (tracepoints only)'
        : 'see "natscope doctor"',
    });
  }
  if (/tracepoint not found/i.test(stderr)) {
    return new NatscopeError(`a tracepoint is missing: ${first}`, {
      hint: 'mount tracefs: mount -t tracefs nodev /sys/kernel/tracing',
    });
  }
  return new NatscopeError(`bpftrace failed: ${first}`, { hint: 'run "natscope doctor" to check this machine' });
}

// How the bpftrace process ended.
export interface BpftraceExit {
  exitCode: number | null;
  signal: string | null;
  // why it could not be started at all (ENOENT: no such binary)
  errorCode: string | null;
  // what the process runner said
  message: string;
}

export interface TracerEnding {
  exit: BpftraceExit;
  // its probes had attached
  attached: boolean;
  // natscope had stopped it
  stopping: boolean;
  bpftrace: DetectedBpftrace;
  // the start of its stderr
  stderr: string;
  probes: ProbeFamily[];
}

// What a bpftrace's end means: the start failed (it never attached), the stream
// ends with an error (it stopped on its own), or nothing to say (natscope stopped it).
export function tracerEnded(ending: TracerEnding): { startFailed: NatscopeError } | { streamError: string } | null {
  const { exit } = ending;
  if (!ending.attached) {
    if (exit.errorCode === 'ENOENT') {
      return {
        startFailed: new NatscopeError(`bpftrace not found (${ending.bpftrace.binary})`, {
          hint: 'install it: apt-get install bpftrace (npm run setup does this)',
        }),
      };
    }
    return {
      startFailed:
        crashError(ending.bpftrace, exit.signal ?? undefined, exit.exitCode ?? undefined) ??
        explainBpftraceFailure(ending.stderr || exit.message, ending.probes, exit.exitCode),
    };
  }
  if (!ending.stopping) return { streamError: `bpftrace stopped on its own: ${exitedHow(exit.exitCode, exit.signal)}` };
  return null;
}

// How long bpftrace may take to compile and attach on this host …
export const ATTACH_TIMEOUT_MS = 90_000;
// … and in the micro-VM. Under software emulation compiling is several
// times slower: `trace --probes drop` on a lab left up took 23-25 s from
// start to attached on a quiet 2-core host (bpftrace's compile alone 15 s),
// 36-53 s while the host ran other work.
export const VM_ATTACH_TIMEOUT_MS = 300_000;

export function attachTimeoutError(timeoutMs: number): NatscopeError {
  return new NatscopeError(`bpftrace did not attach its probes within ${Math.round(timeoutMs / 1000)} s`, {
    hint: 'a busy or emulated machine compiles slowly: try again when it is quieter, or give a longer --attach-timeout',
  });
}

// --attach-timeout's seconds as a session takes them (undefined: where bpftrace runs decides).
export function attachTimeoutMsOf(seconds: number | undefined): number | undefined {
  return seconds === undefined ? undefined : seconds * 1000;
}

// A replay attaches no probes: a timeout for attaching them is a mistake to point out, not to ignore.
export function replayAttaches(): NatscopeError {
  return new NatscopeError('--attach-timeout and --replay do not go together', {
    hint: 'a replay attaches no probes: leave out --attach-timeout (or --replay, to trace live)',
    exitCode: 2,
  });
}

// Once attached, bpftrace is asked to stop (SIGTERM: it dumps its maps on the way out);
// still compiling or attaching, it has nothing to drain and would act on SIGTERM only
// once attached (seconds), so it is killed at once.
export function stopSignal(attached: boolean): NodeJS.Signals {
  return attached ? 'SIGTERM' : 'SIGKILL';
}
