import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { extractVmlinux, versionOfPackage } from '../../src/vm/kernel.js';
import { tempDirForTest } from '../helpers.js';

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
});
