// One place that undoes what a run started (bpftrace, qemu, a lab, temp
// folders) on every way out: normal return, an error, Ctrl-C, SIGTERM,
// SIGHUP. Cleanups run newest first, each at most once.

type Cleanup = () => void | Promise<void>;

const pending = new Map<number, { name: string; run: Cleanup }>();
// Synchronous last resorts for process.on('exit'), when async work can no longer run.
const lastResort = new Map<number, () => void>();
let nextId = 1;
let installed = false;
let exiting = false;

export interface CleanupHandle {
  // run it now (and forget it)
  run(): Promise<void>;
  // forget it without running (the resource was released another way)
  cancel(): void;
}

export function onCleanup(name: string, run: Cleanup, syncFallback?: () => void): CleanupHandle {
  install();
  const id = nextId++;
  pending.set(id, { name, run });
  if (syncFallback) lastResort.set(id, syncFallback);
  return {
    async run() {
      const entry = pending.get(id);
      pending.delete(id);
      lastResort.delete(id);
      if (entry) await entry.run();
    },
    cancel() {
      pending.delete(id);
      lastResort.delete(id);
    },
  };
}

export async function runAllCleanups(): Promise<void> {
  const entries = [...pending.entries()].reverse();
  pending.clear();
  for (const [id, entry] of entries) {
    lastResort.delete(id);
    try {
      await entry.run();
    } catch (error) {
      process.stderr.write(`natscope: cleanup "${entry.name}" failed: ${(error as Error).message}\n`);
    }
  }
}

const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

// Listeners that want to stop gracefully on a signal before cleanups run
// (e.g. a frontend restoring the terminal). Returning resolves the wait.
const interruptListeners = new Set<(signal: NodeJS.Signals) => void | Promise<void>>();

export function onInterrupt(listener: (signal: NodeJS.Signals) => void | Promise<void>): () => void {
  install();
  interruptListeners.add(listener);
  return () => interruptListeners.delete(listener);
}

function install(): void {
  if (installed) return;
  installed = true;
  for (const signal of Object.keys(SIGNAL_EXIT) as NodeJS.Signals[]) {
    process.on(signal, () => {
      if (exiting) return; // a second Ctrl-C while cleaning up: keep cleaning
      exiting = true;
      void (async () => {
        for (const listener of interruptListeners) {
          try {
            await listener(signal);
          } catch {
            // the cleanups below still run
          }
        }
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
