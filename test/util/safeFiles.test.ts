import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ensurePrivateDir, readFileSafely, removeFileSafely, writeFileSafely } from '../../src/util/safeFiles.js';
import { asNatscopeError, tempDirForTest } from '../helpers.js';

const STATE = { mode: 0o755, what: 'the state directory', setting: 'NATSCOPE_STATE_DIR' };

describe('writeFileSafely', () => {
  test('a symlink planted at the file name is replaced, never written through: its target keeps its content', async () => {
    const dir = tempDirForTest('natscope-safe-');
    const precious = join(dir, 'root-only');
    writeFileSync(precious, 'secret', { mode: 0o600 });
    symlinkSync(precious, join(dir, 'x-lab.json'));
    await writeFileSafely(dir, 'x-lab.json', '{"a":1}\n');
    expect(readFileSync(precious, 'utf8')).toBe('secret');
    expect(lstatSync(join(dir, 'x-lab.json')).isFile()).toBe(true);
    expect(readFileSync(join(dir, 'x-lab.json'), 'utf8')).toBe('{"a":1}\n');
    // and no temp file is left
    expect(readdirSync(dir).sort()).toEqual(['root-only', 'x-lab.json']);
  });

  test('the old fixed temp name planted as a symlink is never used', async () => {
    const dir = tempDirForTest('natscope-safe-');
    const precious = join(dir, 'root-only');
    writeFileSync(precious, 'secret');
    symlinkSync(precious, join(dir, 'x-lab.json.tmp'));
    await writeFileSafely(dir, 'x-lab.json', 'new\n');
    expect(readFileSync(precious, 'utf8')).toBe('secret');
    expect(readFileSync(join(dir, 'x-lab.json'), 'utf8')).toBe('new\n');
  });

  test("a temp file left by a writer that died (its pid is gone) is removed on the next write; a living writer's is kept", async () => {
    const dir = tempDirForTest('natscope-safe-');
    const dead = spawnSync('true').pid!;
    writeFileSync(join(dir, `.x-lab.json.${dead}.abc.tmp`), 'half');
    writeFileSync(join(dir, `.x-lab.json.${process.pid}.def.tmp`), 'mine');
    await writeFileSafely(dir, 'x-lab.json', 'whole\n');
    expect(readdirSync(dir).sort()).toEqual([`.x-lab.json.${process.pid}.def.tmp`, 'x-lab.json']);
  });
});

describe('removeFileSafely', () => {
  test("removes the file and the temp files its dead writers left; a living writer's, and other files', are kept", async () => {
    const dir = tempDirForTest('natscope-safe-');
    const dead = spawnSync('true').pid!;
    writeFileSync(join(dir, 'x-lab.json'), 'whole\n');
    writeFileSync(join(dir, `.x-lab.json.${dead}.abc.tmp`), 'half');
    writeFileSync(join(dir, `.x-lab.json.${process.pid}.def.tmp`), 'mine');
    writeFileSync(join(dir, `.y-lab.json.${dead}.abc.tmp`), 'another lab');
    await removeFileSafely(dir, 'x-lab.json');
    expect(readdirSync(dir).sort()).toEqual([`.x-lab.json.${process.pid}.def.tmp`, `.y-lab.json.${dead}.abc.tmp`]);
  });

  test("a dead writer's temp file goes even when the file itself was never renamed into place", async () => {
    const dir = tempDirForTest('natscope-safe-');
    const dead = spawnSync('true').pid!;
    writeFileSync(join(dir, `.x-lab.json.${dead}.abc.tmp`), 'half');
    await removeFileSafely(dir, 'x-lab.json');
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a symlink at the name is removed, its target kept', async () => {
    const dir = tempDirForTest('natscope-safe-');
    const precious = join(dir, 'root-only');
    writeFileSync(precious, 'secret');
    symlinkSync(precious, join(dir, 'x-lab.json'));
    await removeFileSafely(dir, 'x-lab.json');
    expect(readdirSync(dir)).toEqual(['root-only']);
    expect(readFileSync(precious, 'utf8')).toBe('secret');
  });
});

describe('readFileSafely', () => {
  test('a missing file is null; a symlink, a folder and an oversized file are refused with the fix', async () => {
    const dir = tempDirForTest('natscope-safe-');
    expect(await readFileSafely(join(dir, 'none'))).toBeNull();
    writeFileSync(join(dir, 'real'), 'x');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    await expect(readFileSafely(join(dir, 'link'))).rejects.toThrow(
      /link is a symbolic link, not a file natscope wrote/,
    );
    mkdirSync(join(dir, 'folder'));
    await expect(readFileSafely(join(dir, 'folder'))).rejects.toThrow(/folder is not a regular file/);
    writeFileSync(join(dir, 'big'), 'x'.repeat(100));
    await expect(readFileSafely(join(dir, 'big'), 10)).rejects.toThrow(
      /big is 100 bytes, more than natscope ever writes/,
    );
    expect(await readFileSafely(join(dir, 'real'))).toBe('x');
  });
});

describe('ensurePrivateDir', () => {
  test('a missing folder is created with the mode asked for', () => {
    const dir = join(tempDirForTest('natscope-safe-'), 'a', 'state');
    expect(ensurePrivateDir(dir, STATE)).toBe(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  test.each([
    [0o777, /is writable by everyone \(mode 0777\)/],
    [0o775, /is writable by its group \(mode 0775\)/],
    [0o1777, /is writable by everyone \(mode 01777\)/],
  ])('a state folder of mode %o is refused, with the fix', (mode, reason) => {
    const dir = join(tempDirForTest('natscope-safe-'), 'state');
    mkdirSync(dir);
    chmodSync(dir, mode);
    let thrown: unknown;
    try {
      ensurePrivateDir(dir, STATE);
    } catch (e) {
      thrown = e;
    }
    const error = asNatscopeError(thrown);
    expect(error.message).toMatch(new RegExp(`^the state directory ${dir} is not safe to use as root: `));
    expect(error.message).toMatch(reason);
    expect(error.hint).toBe(
      `make it root's alone (chown root:root ${dir} && chmod 0755 ${dir}), or point NATSCOPE_STATE_DIR at a folder only root can write`,
    );
  });

  test('a folder above it that others may write is refused unless it is sticky, like /tmp', () => {
    const base = tempDirForTest('natscope-safe-');
    const open = join(base, 'open');
    mkdirSync(join(open, 'state'), { recursive: true });
    chmodSync(open, 0o777);
    expect(() => ensurePrivateDir(join(open, 'state'), STATE)).toThrow(/open is writable by everyone/);
    chmodSync(open, 0o1777);
    expect(ensurePrivateDir(join(open, 'state'), STATE)).toBe(join(open, 'state'));
  });

  test('a folder reached through a symlink is refused, naming where it really is', () => {
    const base = tempDirForTest('natscope-safe-');
    mkdirSync(join(base, 'real'));
    symlinkSync(join(base, 'real'), join(base, 'link'));
    expect(() => ensurePrivateDir(join(base, 'link'), STATE)).toThrow(
      `a symbolic link leads to it (it is ${join(base, 'real')})`,
    );
    expect(existsSync(join(base, 'real'))).toBe(true);
  });
});
