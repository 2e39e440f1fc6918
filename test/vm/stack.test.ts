import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { vmPrerequisites } from '../../src/vm/prereqs.js';
import { sourcesLine, aptOptions } from '../../src/vm/archive.js';
import { archiveOf } from '../../src/vm/kernel.js';
import { parseStack, selectedStack, stackCacheDir, STACKS } from '../../src/vm/stack.js';

const saved = { stack: process.env.NATSCOPE_VM_STACK, cache: process.env.NATSCOPE_CACHE };
afterEach(() => {
  if (saved.stack === undefined) delete process.env.NATSCOPE_VM_STACK;
  else process.env.NATSCOPE_VM_STACK = saved.stack;
  if (saved.cache === undefined) delete process.env.NATSCOPE_CACHE;
  else process.env.NATSCOPE_CACHE = saved.cache;
});

describe('micro-VM stacks', () => {
  test('a command picks its stack; else NATSCOPE_VM_STACK; else debian12', () => {
    delete process.env.NATSCOPE_VM_STACK;
    expect(selectedStack()).toBe('debian12');
    process.env.NATSCOPE_VM_STACK = 'debian13';
    expect(selectedStack()).toBe('debian13');
    expect(selectedStack('debian12')).toBe('debian12');
    expect(STACKS).toEqual(['debian12', 'debian13']);
  });

  test('an unknown stack is refused with the list of known ones', () => {
    expect(() => parseStack('ubuntu24')).toThrow('--stack "ubuntu24" is not a micro-VM stack');
    process.env.NATSCOPE_VM_STACK = 'trixie';
    expect(() => selectedStack()).toThrow(/NATSCOPE_VM_STACK "trixie" is not a micro-VM stack/);
    const error = (() => {
      try {
        return parseStack('x');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ hint: 'use one of: debian12, debian13', exitCode: 2 });
  });

  test("Debian 12's kernels stay where they always were; Debian 13's stack has a cache folder of its own", () => {
    expect(stackCacheDir('debian12', '/c')).toBe('/c');
    expect(stackCacheDir('debian13', '/c')).toBe('/c/debian13');
  });

  test("Debian 13's kernel comes through a private apt configuration: sources, lists and cache all in natscope's folder", () => {
    expect(aptOptions(archiveOf('debian12', '/c'))).toEqual([]);
    const options = aptOptions(archiveOf('debian13', '/c'));
    const values = options.filter((_, i) => i % 2 === 1);
    expect(options.filter((_, i) => i % 2 === 0).every((o) => o === '-o')).toBe(true);
    expect(values).toEqual([
      'Dir::Etc::sourcelist=/c/debian13/apt/sources.list',
      'Dir::Etc::sourceparts=-',
      'Dir::State::Lists=/c/debian13/apt/lists',
      'Dir::Cache=/c/debian13/apt/cache',
      'APT::Sandbox::User=root',
    ]);
    expect(sourcesLine('trixie', 'http://deb.debian.org/debian')).toBe(
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n',
    );
  });

  test('a stack not set up yet is reported with its setup command (fetched on first use, so not a missing tool)', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'natscope-empty-cache-'));
    try {
      process.env.NATSCOPE_CACHE = cache;
      const { checks } = await vmPrerequisites('debian13');
      expect(checks.find((c) => c.name === 'vm-kernel')).toMatchObject({
        ok: false,
        detail: 'debian13: no VM kernel cached yet',
        fix: expect.stringMatching(/^sudo natscope vm setup --stack debian13 /),
      });
      expect(checks.find((c) => c.name === 'vm-rootfs')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(/^debian13: root filesystem not built yet/),
        fix: expect.stringMatching(/^sudo natscope vm setup --stack debian13 \(debootstrap/),
      });
      // the default stack shares this host's root: nothing to build
      expect((await vmPrerequisites('debian12')).checks.some((c) => c.name === 'vm-rootfs')).toBe(false);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
