// Preloaded (node --import) into each `natscope lab up` of the concurrency
// test: it loads natscope's modules first (the entry point then finds them
// loaded), says it is ready, and waits for the test's go, so that every
// `lab up` reaches the lab's lock at about the same moment, however slowly
// the processes started on a busy machine.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const dir = process.env.NATSCOPE_TEST_STARTING_LINE;
if (dir) {
  const dist = new URL('../../../dist/src/', import.meta.url);
  for (const module of ['cli/program.js', 'commands/lab.js', 'agent/session.js', 'lab/netns/lab.js'])
    await import(new URL(module, dist).href);
  writeFileSync(join(dir, `ready-${process.pid}`), '');
  while (!existsSync(join(dir, 'go'))) await sleep(2);
}
