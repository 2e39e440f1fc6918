// Where natscope's own files are, whether it runs from src/ (tests, tsx) or
// from the compiled dist/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function projectRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const manifest: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
        if (typeof manifest === 'object' && manifest !== null && 'name' in manifest && manifest.name === 'natscope') {
          cached = dir;
          return dir;
        }
      } catch {
        // not ours: keep looking upward
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('natscope: cannot find the project root (package.json named natscope)');
    dir = parent;
  }
}

export function probesDir(): string {
  return join(projectRoot(), 'probes');
}

// The compiled CLI entry point, for re-running natscope in a child (micro-VM, agent).
export function cliEntry(): string {
  return join(projectRoot(), 'dist', 'src', 'main.js');
}

// Where a lab records itself (state, locks, the micro-VM lab's broker files)
// and where natscope's run folders live: /run, so that a reboot, which takes
// every lab down, also forgets them.
export function stateDir(): string {
  return process.env.NATSCOPE_STATE_DIR ?? '/run/natscope';
}
