import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { extractVmlinux, unpackKernel, versionOfPackage } from '../../src/vm/kernel.js';
import { tempDirForTest, testTempDir } from '../helpers.js';

const work = testTempDir('natscope-kernel-pkg-');

const VERSION = '9.9.9-test-amd64';
const ELF = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.from('a kernel image')]);

// A kernel .deb laid out like Debian's (built with dpkg-deb): `files` maps
// paths in the package to contents.
async function kernelPackage(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const tree = join(work, name);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  writeFileSync(
    join(tree, 'DEBIAN', 'control'),
    `Package: linux-image-${VERSION}\nVersion: 1\nArchitecture: amd64\nMaintainer: natscope tests <tests@invalid>\nDescription: test kernel\n`,
  );
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), data);
  }
  const deb = join(work, `${name}.deb`);
  await execa('dpkg-deb', ['--root-owner-group', '-b', tree, deb]);
  return deb;
}

const bzImage = Buffer.concat([Buffer.from('MZ setup '), gzipSync(ELF)]);
const modulesAt = (base: string) => ({ [`${base}/modules/${VERSION}/kernel/fs/dummy.ko`]: '' });

describe('the micro-VM kernel', () => {
  test('vmlinux is found inside a bzImage-like blob after its compression magic', async () => {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.from('a kernel image')]);
    // setup code that happens to contain a gzip magic first, then the real payload
    const blob = Buffer.concat([
      Buffer.from('MZ setup code \x1f\x8b\x08 not a stream '),
      gzipSync(elf),
      Buffer.from('trailing bytes'),
    ]);
    const out = join(tempDirForTest('natscope-kernel-'), 'vmlinux');
    await extractVmlinux(blob, out);
    expect(readFileSync(out)).toEqual(elf);
  });

  test('a blob with no kernel inside is refused', async () => {
    const out = join(tempDirForTest('natscope-kernel-'), 'vmlinux');
    await expect(extractVmlinux(Buffer.from('nothing to see here'), out)).rejects.toThrow(
      /could not find an ELF kernel/,
    );
  });

  test('the package name gives the kernel version', () => {
    expect(versionOfPackage('linux-image-6.1.0-56-amd64')).toBe('6.1.0-56-amd64');
  });

  test('a usr-merged package (Debian 13) is linked lib -> usr/lib, indexed by depmod, its vmlinux extracted', async () => {
    const deb = await kernelPackage('merged', {
      ...modulesAt('usr/lib'),
      [`boot/vmlinuz-${VERSION}`]: bzImage,
      [`boot/config-${VERSION}`]: 'CONFIG_DEBUG_INFO_BTF=y\n',
    });
    const into = join(work, 'merged-out');
    await unpackKernel(deb, into, VERSION);
    expect(lstatSync(join(into, 'lib')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(into, 'lib'))).toBe('usr/lib');
    expect(existsSync(join(into, 'lib', 'modules', VERSION, 'modules.dep'))).toBe(true);
    expect(readFileSync(join(into, 'vmlinux'))).toEqual(ELF);
  });

  test('a kernel package without modules is refused, saying what the micro-VM needs', async () => {
    const deb = await kernelPackage('no-modules', { [`boot/vmlinuz-${VERSION}`]: bzImage });
    await expect(unpackKernel(deb, join(work, 'no-modules-out'), VERSION)).rejects.toMatchObject({
      message: `the kernel package no-modules.deb has no modules (no lib/modules/${VERSION}/kernel)`,
      hint: expect.stringContaining("a modular kernel package like Debian's linux-image-amd64"),
    });
  });

  test('a kernel built without BTF is refused before anything is built from it', async () => {
    const deb = await kernelPackage('no-btf', {
      ...modulesAt('lib'),
      [`boot/vmlinuz-${VERSION}`]: bzImage,
      [`boot/config-${VERSION}`]: '# CONFIG_DEBUG_INFO_BTF is not set\n',
    });
    const into = join(work, 'no-btf-out');
    await expect(unpackKernel(deb, into, VERSION)).rejects.toMatchObject({
      message: `the kernel ${VERSION} has no BTF (CONFIG_DEBUG_INFO_BTF is not set)`,
      hint: expect.stringContaining('CONFIG_DEBUG_INFO_BTF=y'),
    });
    expect(existsSync(join(into, 'vmlinux'))).toBe(false);
  });
});
