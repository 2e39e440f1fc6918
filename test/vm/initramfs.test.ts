import { gunzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { cpioNewc, initScript, TAGS } from '../../src/vm/initramfs.js';

// Reads a newc archive back: the format the kernel unpacks.
function readCpio(buf: Buffer): { name: string; mode: number; data: Buffer }[] {
  const out = [];
  let p = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    expect(buf.toString('ascii', p, p + 6)).toBe('070701');
    const field = (i: number) => parseInt(buf.toString('ascii', p + 6 + i * 8, p + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.toString('utf8', p + 110, p + 110 + nameSize - 1);
    const dataStart = align(p + 110 + nameSize);
    const data = buf.subarray(dataStart, dataStart + size);
    p = align(dataStart + size);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, data });
  }
}

describe('the initramfs', () => {
  test('cpio newc entries come back with their names, modes and contents', () => {
    const archive = cpioNewc([
      { name: 'bin', mode: 0o40755 },
      { name: 'init', mode: 0o100755, data: Buffer.from('#!/bin/sh\n') },
      { name: 'odd', mode: 0o100644, data: Buffer.from('abc') },
    ]);
    expect(archive.length % 4).toBe(0);
    expect(readCpio(archive)).toEqual([
      { name: 'bin', mode: 0o40755, data: Buffer.alloc(0) },
      { name: 'init', mode: 0o100755, data: Buffer.from('#!/bin/sh\n') },
      { name: 'odd', mode: 0o100644, data: Buffer.from('abc') },
    ]);
    expect(gunzipSync).toBeDefined();
  });

  test('/init mounts the host read-only under a writable overlay and hands over to the run', () => {
    const init = initScript();
    expect(init).toMatch(
      new RegExp(`mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose ${TAGS.root} /mnt/lower`),
    );
    expect(init).toMatch(/mount -t overlay overlay -o lowerdir=\/mnt\/lower,upperdir=\/mnt\/rw\/upper/);
    expect(init).toContain('mount -t tmpfs -o mode=755 tmpfs /newroot/run');
    expect(init).toMatch(/exec switch_root \/newroot \/bin\/bash \/run\/natscope-vm\/guest\.sh/);
  });
});
