// apt, pointed at one Debian suite through a private configuration: its
// sources list, package lists and downloads live in natscope's cache, so
// the system's own sources, lists and state are never touched. With no
// suite, apt as the system has it.

import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { NatscopeError } from '../errors.js';
import { debianMirror } from './stack.js';

export const ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

// Package lists older than this are fetched again before a download.
const LISTS_MAX_AGE_MS = 24 * 3600 * 1000;

export interface Archive {
  // null: the system's apt sources
  suite: string | null;
  // the private configuration's folder (sources.list, lists/, cache/)
  dir: string | null;
}

export function aptOptions(archive: Archive): string[] {
  if (archive.suite === null || archive.dir === null) return [];
  const d = archive.dir;
  return [
    '-o',
    `Dir::Etc::sourcelist=${join(d, 'sources.list')}`,
    '-o',
    'Dir::Etc::sourceparts=-',
    '-o',
    `Dir::State::Lists=${join(d, 'lists')}`,
    '-o',
    `Dir::Cache=${join(d, 'cache')}`,
    // the cache belongs to root: no download sandbox user to hand it to
    '-o',
    'APT::Sandbox::User=root',
  ];
}

export function sourcesLine(suite: string, mirror = debianMirror()): string {
  return `deb [signed-by=${ARCHIVE_KEYRING}] ${mirror} ${suite} main\n`;
}

// Writes the private configuration and fetches its package lists, unless
// they are fresh. The system's apt needs nothing.
export async function prepareArchive(archive: Archive, log: (line: string) => void): Promise<void> {
  if (archive.suite === null || archive.dir === null) return;
  if (!existsSync(ARCHIVE_KEYRING)) {
    throw new NatscopeError(`Debian's archive keyring ${ARCHIVE_KEYRING} is missing`, {
      hint: 'apt-get install debian-archive-keyring (natscope vm setup installs it)',
    });
  }
  const lists = join(archive.dir, 'lists');
  await mkdir(join(lists, 'partial'), { recursive: true });
  await mkdir(join(archive.dir, 'cache', 'archives', 'partial'), { recursive: true });
  await writeFile(join(archive.dir, 'sources.list'), sourcesLine(archive.suite));
  const stamp = join(archive.dir, 'lists.updated');
  if (existsSync(stamp) && Date.now() - statSync(stamp).mtimeMs < LISTS_MAX_AGE_MS) return;
  log(`fetching Debian ${archive.suite}'s package lists (private apt configuration in ${archive.dir})`);
  const result = await execa('apt-get', [...aptOptions(archive), 'update', '-q'], { reject: false });
  if (result.exitCode !== 0 || /^(E|Err):/m.test(result.stderr)) {
    const why = `${result.stderr}`.trim().split('\n').filter(Boolean).pop() ?? `exit code ${result.exitCode}`;
    throw new NatscopeError(`could not fetch Debian ${archive.suite}'s package lists: ${why}`, {
      hint: `check that this machine reaches ${debianMirror()} (or set NATSCOPE_DEBIAN_MIRROR to a mirror)`,
    });
  }
  await writeFile(stamp, `${new Date().toISOString()}\n`);
}

export async function aptCache(archive: Archive, args: string[]) {
  return execa('apt-cache', [...aptOptions(archive), ...args], { reject: false });
}

export async function aptDownload(archive: Archive, pkg: string, cwd: string) {
  return execa('apt-get', [...aptOptions(archive), 'download', pkg], { cwd, reject: false });
}
