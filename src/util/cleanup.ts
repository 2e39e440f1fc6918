// One place that undoes what a run started (bpftrace, qemu, a lab, temp
// folders) on every way out: normal return, an error, Ctrl-C, SIGTERM,
// SIGHUP. Cleanups run newest first, each exactly once; whoever asks for a
// cleanup that is already running waits for it to finish (so the process
// never exits half-way through one).

import { closeSync, openSync } from 'node:fs';
import { describeError } from '../errors.js';

type Cleanup = () => void | Promise<void>;

interface Entry {
  name: string;
  run: Cleanup;
  running?: Promise<void>;
}

const entries = new Map<number, Entry>();
// Synchronous last resorts for process.on('exit'), when async work can no longer run.
const lastResort = new Map<number, () => void>();
let nextId = 1;
let installed = false;
let exiting = false;
// the signal being handled, once one arrived
let interrupted: NodeJS.Signals | null = null;
let signalsWhileExiting = 0;

export interface CleanupHandle {
  // run it now (or wait for it if it is already running)
  run(): Promise<void>;
  // forget it without running (the resource was released another way)
  cancel(): void;
}

function start(id: number): Promise<void> {
  const entry = entries.get(id);
  if (!entry) return Promise.resolve();
  entry.running ??= (async () => {
    try {
      await entry.run();
    } catch (error) {
      process.stderr.write(`natscope: cleanup "${entry.name}" failed: ${describeError(error)}\n`);
    } finally {
      entries.delete(id);
      lastResort.delete(id);
    }
  })();
  return entry.running;
}

export function onCleanup(name: string, run: Cleanup, syncFallback?: () => void): CleanupHandle {
  install();
  const id = nextId++;
  entries.set(id, { name, run });
  if (syncFallback) lastResort.set(id, syncFallback);
  return {
    run: () => start(id),
    cancel() {
      if (entries.get(id)?.running) return;
      entries.delete(id);
      lastResort.delete(id);
    },
  };
}

// Does `work`; if it fails, runs the cleanup first (what was started is undone), then fails.
export async function orUndo<T>(cleanup: CleanupHandle, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    await cleanup.run();
    throw error;
  }
}

// Runs every pending cleanup, newest first, and waits for those already running.
export async function runAllCleanups(): Promise<void> {
  for (const id of [...entries.keys()].reverse()) await start(id);
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

// Listeners that want to stop gracefully on a signal before cleanups run
// (e.g. a frontend restoring the terminal, a command finishing its summary).
const interruptListeners = new Set<(signal: NodeJS.Signals) => void | Promise<void>>();

export function onInterrupt(listener: (signal: NodeJS.Signals) => void | Promise<void>): () => void {
  install();
  interruptListeners.add(listener);
  return () => interruptListeners.delete(listener);
}

// Points stdin/stdout/stderr at /dev/null (after SIGHUP: the terminal is gone).
export function detachStdio(): void {
  try {
    process.stdin.destroy();
    for (const [fd, flags] of [
      [0, 'r'],
      [1, 'w'],
      [2, 'w'],
    ] as const) {
      closeSync(fd);
      openSync('/dev/null', flags);
    }
  } catch {
    // best effort: the cleanups matter more than a clean exit status
  }
}

// The exit code of the signal that is stopping natscope, or null: a command
// that fails because it was interrupted (bpftrace killed while it attached)
// exits as interrupted, not as failed.
export function interruptExitCode(): number | null {
  return interrupted ? (SIGNAL_EXIT[interrupted] ?? null) : null;
}

// Takes over the signals now. Called at start-up by the entry point: a
// process started in the background of a script inherits SIGINT ignored,
// and a Ctrl-C (or kill -INT) before the first cleanup is registered
// would otherwise be lost.
export function installSignalHandlers(): void {
  install();
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.on(signal, () => {
      // a second Ctrl-C while cleaning up: keep cleaning; a third: give up and go
      if (exiting) {
        if (++signalsWhileExiting >= 2) {
          for (const fallback of lastResort.values()) fallback();
          process.exit(SIGNAL_EXIT[signal]);
        }
        return;
      }
      exiting = true;
      interrupted = signal;
      void (async () => {
        for (const listener of interruptListeners) {
          try {
            await listener(signal);
          } catch {
            // the cleanups below still run
          }
        }
        // a hung-up terminal: writing to it would crash the exit (and cut the cleanups short)
        if (signal === 'SIGHUP') detachStdio();
        await runAllCleanups();
        process.exit(SIGNAL_EXIT[signal]);
      })();
    });
  }
  process.on('exit', () => {
    for (const fallback of lastResort.values()) {
      try {
        fallback();
      } catch {
        // best effort: the process is going away
      }
    }
  });
}
