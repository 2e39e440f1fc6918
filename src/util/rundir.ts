// natscope's run folders (a micro-VM's, the tracer's program) live in a
// folder of natscope's own that no one else can write: <state dir>/run as
// root (/run/natscope/run, mode 0700), <tmp>/natscope-run-<uid> otherwise.
// Each run folder names its owner (pid and start time); one whose owner is
// gone (natscope was killed with SIGKILL) is removed by the next run that
// makes one. The sweep looks nowhere else, and removes only folders, never
// through a symlink, that this user owns with mode 0700: a folder someone
// else made in /tmp is none of natscope's business.

import { lstatSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { formatOwner, ownerRunning, parseOwner, self } from './owner.js';
import { stateDir } from './paths.js';
import { ensurePrivateDir, readFileSafely } from './safeFiles.js';
import { EXIT, errnoOf, NatscopeError } from '../errors.js';

const OWNER = 'owner';
// a folder with no owner file yet is being made: stale only after this long
const UNCLAIMED_STALE_MS = 60_000;

export function runRoot(): string {
  const uid = process.geteuid?.() ?? 0;
  return uid === 0 ? join(stateDir(), 'run') : join(tmpdir(), `natscope-run-${uid}`);
}

function ensureRunRoot(): string {
  return ensurePrivateDir(runRoot(), {
    mode: 0o700,
    what: 'the run folder',
    setting: process.geteuid?.() === 0 ? 'NATSCOPE_STATE_DIR' : 'TMPDIR',
  });
}

// A new run folder, natscope-<kind>-XXXXXX (mode 0700), owned by this process.
// Until it is handed over (the caller's own cleanup takes it from there, with
// no wait in between), an interruption (Ctrl-C) or a failure removes what was
// made so far: the folder, and natscope's own folder if it is left empty.
export async function makeRunDir(kind: string): Promise<string> {
  let made: string | null = null;
  // set when the undo starts: from then on the making fails at its next step, the last one included
  let stopped = false;
  const throwIfStopped = () => {
    if (stopped)
      throw new NatscopeError(`natscope was stopped while it made the ${kind} run folder`, {
        exitCode: EXIT.interrupted,
      });
  };
  const making = (async () => {
    for (let attempt = 0; ; attempt++) {
      throwIfStopped();
      const root = ensureRunRoot();
      await sweepRunDirs(root);
      throwIfStopped();
      try {
        made = await mkdtemp(join(root, `natscope-${kind}-`));
      } catch (error) {
        // another run removed the (empty) root meanwhile: make it again
        if (errnoOf(error) === 'ENOENT' && attempt < 5) continue;
        throw error;
      }
      throwIfStopped();
      await writeFile(join(made, OWNER), formatOwner(self()), { flag: 'wx', mode: 0o600 });
      // a folder the undo is removing is never handed over
      throwIfStopped();
      return made;
    }
  })();
  // The undo waits for the making to stop (it lets the file operation under
  // way finish: else that could make the folder, or natscope's own folder,
  // after the undo had looked), then removes what it made.
  const undo = onCleanup(`remove the ${kind} run folder being made`, async () => {
    stopped = true;
    await making.catch(() => undefined);
    if (made !== null) await rm(made, { recursive: true, force: true });
    await rmdir(runRoot()).catch(() => undefined);
  });
  let dir: string;
  try {
    dir = await making;
  } catch (error) {
    await undo.run();
    throw error;
  }
  undo.cancel();
  return dir;
}

// Removes a run folder this process made, and natscope's own folder once it is empty.
export async function removeRunDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await rmdir(runRoot()).catch(() => undefined);
}

// Removes the run folders whose owner is gone; returns them.
export async function sweepRunDirs(root = runRoot()): Promise<string[]> {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.startsWith('natscope-')) continue;
    const dir = join(root, entry);
    if (!(await stale(dir))) continue;
    // rm removes a symlink inside as a name, never what it points to
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

async function stale(dir: string): Promise<boolean> {
  let stats: ReturnType<typeof lstatSync>;
  try {
    stats = lstatSync(dir);
  } catch {
    return false;
  }
  if (!stats.isDirectory() || stats.uid !== (process.geteuid?.() ?? 0) || (stats.mode & 0o777) !== 0o700) return false;
  let text: string | null;
  try {
    text = await readFileSafely(join(dir, OWNER), 256);
  } catch {
    return false;
  }
  if (text === null) return Date.now() - stats.mtimeMs > UNCLAIMED_STALE_MS;
  const owner = parseOwner(text);
  return owner !== null && !ownerRunning(owner);
}
