// Files root keeps in its own directories (a lab's state and lock, run
// folders) without letting anyone turn them against it:
// - a directory is used only if no one but root (or the user running
//   natscope) can change it or any folder above it, a sticky folder such as
//   /tmp excepted, and no symbolic link leads to it;
// - a file is written through a fresh temp file opened O_EXCL|O_NOFOLLOW and
//   renamed into place, so a planted symlink can never redirect the write;
// - a file is read with O_NOFOLLOW, and only if it is a regular file that
//   root or the user owns.

import { randomBytes } from 'node:crypto';
import { constants, lstatSync, mkdirSync, readdirSync, realpathSync, unlinkSync, type Stats } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { describeError, errnoOf, NatscopeError } from '../errors.js';
import { isAlive } from './process.js';

export function trustedOwner(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

// Why someone other than root (or the user) could change this folder's entries, or null.
function openToOthers(path: string, stats: Stats, isAncestor: boolean): string | null {
  if (!stats.isDirectory()) return `${path} is not a directory`;
  if (!trustedOwner(stats.uid)) return `${path} is owned by uid ${stats.uid}, not root`;
  const writable = (stats.mode & 0o022) !== 0;
  // in a sticky folder (/tmp) others may add entries but not rename or remove ours
  if (writable && !(isAncestor && (stats.mode & 0o1000) !== 0))
    return `${path} is writable by ${stats.mode & 0o002 ? 'everyone' : 'its group'} (mode ${octal(stats.mode)})`;
  return null;
}

export interface PrivateDirOptions {
  // 0o755 for state others may read (lab status), 0o700 for run folders
  mode: number;
  // what the folder is, for the error ("the state directory")
  what: string;
  // where the path came from, for the fix ("NATSCOPE_STATE_DIR")
  setting?: string;
}

// Creates the folder if it is missing and checks that it, and every folder
// above it, is root's (or the user's) alone. Returns the absolute path.
export function ensurePrivateDir(path: string, options: PrivateDirOptions): string {
  const dir = resolve(path);
  const refuse = (reason: string) =>
    new NatscopeError(`${options.what} ${dir} is not safe to use as root: ${reason}`, {
      hint: `make it root's alone (chown root:root ${dir} && chmod ${octal(options.mode)} ${dir})${
        options.setting ? `, or point ${options.setting} at a folder only root can write` : ''
      }`,
    });
  try {
    mkdirSync(dir, { recursive: true, mode: options.mode });
  } catch (error) {
    throw new NatscopeError(`cannot create ${options.what} ${dir}: ${describeError(error)}`, {
      hint: options.setting ? `point ${options.setting} at a folder root can write` : 'run natscope as root',
    });
  }
  const real = realpathSync(dir);
  if (real !== dir) throw refuse(`a symbolic link leads to it (it is ${real})`);
  for (let p = dir, ancestor = false; ; p = dirname(p), ancestor = true) {
    const reason = openToOthers(p, lstatSync(p), ancestor);
    if (reason) throw refuse(reason);
    if (dirname(p) === p) break;
  }
  return dir;
}

// Writes a whole file, atomically: readers see the old or the new content.
export async function writeFileSafely(dir: string, name: string, content: string, mode = 0o644): Promise<void> {
  removeDeadTempFiles(dir, name);
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await file.writeFile(content);
  } finally {
    await file.close();
  }
  try {
    // rename replaces a symlink at the final name itself, never its target
    await rename(tmp, join(dir, name));
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

// Removes a file writeFileSafely wrote, and the temp files its killed
// writers left beside it: a lab taken down after `lab up` was killed
// between open and rename leaves nothing behind.
export async function removeFileSafely(dir: string, name: string): Promise<void> {
  // rm removes a symlink at the name itself, never its target
  await rm(join(dir, name), { force: true });
  removeDeadTempFiles(dir, name);
}

// Temp files a writer killed between open and rename left (their pid is dead).
function removeDeadTempFiles(dir: string, name: string): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  const head = `.${name}.`;
  for (const entry of entries) {
    if (!entry.startsWith(head) || !entry.endsWith('.tmp')) continue;
    const pid = Number(entry.slice(head.length).split('.')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) {
      try {
        // unlink removes the name, never what a symlink points to
        unlinkSync(join(dir, entry));
      } catch {
        // gone meanwhile, or not a file
      }
    }
  }
}

export class UnsafeFile extends NatscopeError {}

// The content of a small file natscope wrote, or null if there is none.
// Refused: a symlink, anything but a regular file, a file someone else owns, an oversized one.
export async function readFileSafely(path: string, maxBytes = 1 << 20): Promise<string | null> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP')
      throw new UnsafeFile(`${path} is a symbolic link, not a file natscope wrote`, { hint: `rm ${path}` });
    if (code === 'ENOTDIR')
      throw new UnsafeFile(`cannot read ${path}: ${dirname(path)} is a file, not a folder`, {
        hint: `move ${dirname(path)} out of the way, or point natscope at a folder (NATSCOPE_STATE_DIR)`,
      });
    throw new UnsafeFile(`cannot read ${path}: ${describeError(error)}`, {
      hint: `check it and the folders above it: ls -ld ${path} ${dirname(path)}`,
    });
  }
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw new UnsafeFile(`${path} is not a regular file`, { hint: `rm ${path}` });
    if (!trustedOwner(stats.uid))
      throw new UnsafeFile(`${path} is owned by uid ${stats.uid}, not root: natscope did not write it`, {
        hint: `rm ${path}`,
      });
    if (stats.size > maxBytes)
      throw new UnsafeFile(`${path} is ${stats.size} bytes, more than natscope ever writes there`, {
        hint: `rm ${path}`,
      });
    return await file.readFile('utf8');
  } finally {
    await file.close();
  }
}
