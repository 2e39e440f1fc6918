// Progress lines on stderr for long steps (VM boot, bpftrace attach, lab
// bring-up), each with the time since the step began, so stdout stays
// clean for --json.

export interface Progress {
  log(line: string): void;
  done(line: string): void;
  elapsedMs(): number;
}

export function progress(name: string, quiet = Boolean(process.env.NATSCOPE_QUIET)): Progress {
  const start = performance.now();
  const stamp = () => `${((performance.now() - start) / 1000).toFixed(1).padStart(5)} s`;
  return {
    log(line) {
      if (!quiet) process.stderr.write(`[${name} ${stamp()}] ${line}\n`);
    },
    done(line) {
      if (!quiet) process.stderr.write(`[${name} ${stamp()}] ${line}\n`);
    },
    elapsedMs: () => performance.now() - start,
  };
}
