// Progress lines on stderr for long steps (VM boot, bpftrace attach, lab
// bring-up), each with the time since the step began, so stdout stays
// clean for --json. A line may quote what a guest console, bpftrace or a
// cluster said: it is made safe for the terminal here, where it is written.

import { safeText } from './terminal.js';

export interface Progress {
  log(line: string): void;
  done(line: string): void;
  elapsedMs(): number;
}

export function progress(name: string, quiet = Boolean(process.env.NATSCOPE_QUIET)): Progress {
  const start = performance.now();
  const stamp = () => `${((performance.now() - start) / 1000).toFixed(1).padStart(5)} s`;
  const write = (line: string) => {
    if (!quiet) process.stderr.write(`[${name} ${stamp()}] ${safeText(line)}\n`);
  };
  return {
    log: write,
    done: write,
    elapsedMs: () => performance.now() - start,
  };
}
