// The micro-VM's initramfs: static busybox, the few modules needed to reach
// the root filesystem over 9p (the host's, or the stack's own), and an /init that mounts it read-only
// under a tmpfs overlay (writes never reach the host) and hands over to the
// run's guest script. Built once per kernel and cached.

import { existsSync } from 'node:fs';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { NatscopeError } from '../errors.js';
import type { KernelImage } from './kernel.js';

export const BUSYBOX = '/bin/busybox';
// What the guest needs before it can see any file of the host.
export const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];
// Mount tags shared between qemu.ts and the init script.
export const TAGS = { root: 'root', modules: 'kmods', run: 'run' } as const;
export const GUEST_RUN_DIR = '/run/natscope-vm';
// The run's guest script in GUEST_RUN_DIR, which /init hands over to (src/vm/guest.ts writes it).
export const GUEST_SCRIPT = 'guest.sh';

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
}

// newc cpio, the format the kernel unpacks an initramfs from.
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const push = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    chunks.push(header, name, pad(header.length + name.length), data, pad(data.length));
  };
  for (const e of entries) push(e);
  push({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(chunks);
}

// Modules in load order, each once (modprobe --show-depends repeats shared deps).
export async function bootModules(kernel: KernelImage): Promise<string[]> {
  const result = await execa(
    'modprobe',
    ['-d', kernel.dir, '-S', kernel.version, '--show-depends', '-a', ...BOOT_MODULES],
    {
      reject: false,
    },
  );
  if (result.exitCode !== 0) {
    throw new NatscopeError(`cannot resolve the VM kernel's boot modules: ${result.stderr.trim()}`, {
      hint: 'apt-get install kmod, then natscope vm setup',
    });
  }
  const seen = new Set<string>();
  const order: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const path = /^insmod\s+(\S+)/.exec(line)?.[1];
    if (path && !seen.has(path)) {
      seen.add(path);
      order.push(path);
    }
  }
  return order;
}

// /init of the initramfs (busybox sh). The kernel command line carries no
// per-run data: everything per run is in the run share's guest.sh.
export function initScript(): string {
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /usr/bin /sbin /usr/sbin /proc /sys /dev /newroot /mnt/lower /mnt/rw
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() { echo "natscope-vm: $*" > /dev/ttyS0; echo o > /proc/sysrq-trigger; sleep 10; }
for m in $(cat /modules/order); do insmod /modules/$m || fail "insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose ${TAGS.root} /mnt/lower || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=755 tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /newroot || fail "overlay mount failed"
KVER=$(uname -r)
# a private /run: the host's (netns bind mounts, pid files) means nothing here
mount -t tmpfs -o mode=755 tmpfs /newroot/run
mkdir -p /newroot/lib/modules/$KVER ${`/newroot${GUEST_RUN_DIR}`}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro ${TAGS.modules} /newroot/lib/modules/$KVER || fail "cannot mount the kernel modules"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 ${TAGS.run} ${`/newroot${GUEST_RUN_DIR}`} || fail "cannot mount the run folder"
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash ${GUEST_RUN_DIR}/${GUEST_SCRIPT}
`;
}

// Debian 13 compresses its modules (.ko.xz); busybox's insmod loads plain
// ELF objects, so they go into the initramfs decompressed.
const COMPRESSED: Record<string, string> = { '.xz': 'xz', '.zst': 'zstd', '.gz': 'gzip' };

export function plainModuleName(path: string): string {
  return basename(path).replace(/\.ko\.(xz|zst|gz)$/, '.ko');
}

async function readModule(path: string): Promise<Buffer> {
  const suffix = Object.keys(COMPRESSED).find((s) => path.endsWith(`.ko${s}`));
  if (!suffix) return readFile(path);
  const tool = COMPRESSED[suffix]!;
  const result = await execa(tool, ['-dc', path], { encoding: 'buffer', reject: false });
  if (result.exitCode !== 0) {
    throw new NatscopeError(`cannot decompress the VM kernel's module ${basename(path)} with ${tool}`, {
      hint: `apt-get install ${tool === 'xz' ? 'xz-utils' : tool}, then natscope vm setup`,
    });
  }
  return Buffer.from(result.stdout);
}

export function initramfsPath(kernel: KernelImage): string {
  return join(kernel.dir, 'initramfs.gz');
}

export async function ensureInitramfs(kernel: KernelImage, log: (line: string) => void): Promise<string> {
  const path = initramfsPath(kernel);
  if (existsSync(path)) return path;
  if (!existsSync(BUSYBOX)) {
    throw new NatscopeError(`no static busybox at ${BUSYBOX}`, {
      hint: 'apt-get install busybox-static (natscope vm setup does it)',
    });
  }
  log('building the initramfs (busybox + 9p/overlay modules)');
  const modules = await bootModules(kernel);
  const entries: CpioEntry[] = [
    { name: 'bin', mode: 0o40755 },
    { name: 'bin/busybox', mode: 0o100755, data: await readFile(BUSYBOX) },
    { name: 'init', mode: 0o100755, data: Buffer.from(initScript()) },
    { name: 'modules', mode: 0o40755 },
    {
      name: 'modules/order',
      mode: 0o100644,
      data: Buffer.from(`${modules.map((m) => plainModuleName(m)).join('\n')}\n`),
    },
  ];
  for (const m of modules)
    entries.push({ name: `modules/${plainModuleName(m)}`, mode: 0o100644, data: await readModule(m) });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, gzipSync(cpioNewc(entries), { level: 1 }));
  await rename(tmp, path);
  return path;
}
