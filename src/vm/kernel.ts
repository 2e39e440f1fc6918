// The micro-VM's kernel: Debian's stock linux-image package (kprobes, BTF,
// modular netfilter) of the stack's release (src/vm/stack.ts: Debian 12's
// through the system's apt, Debian 13's through a private configuration),
// downloaded and unpacked into a cache rather than installed, so the host's
// own boot setup is never touched. The bzImage's
// payload is unpacked to a plain ELF vmlinux once: qemu boots it directly
// (PVH), which saves seconds per boot under emulation.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { NatscopeError } from '../errors.js';
import { type Archive, aptCache, aptDownload, prepareArchive } from './archive.js';
import { cacheRoot, STACK_INFO, type Stack, selectedStack, stackCacheDir } from './stack.js';

export { cacheRoot } from './stack.js';

export const KERNEL_META_PACKAGE = 'linux-image-amd64';

export interface KernelImage {
  version: string; // e.g. 6.1.0-56-amd64, 6.12.117+deb13-amd64
  dir: string; // unpacked package: boot/, lib/modules/<version>/ (lib -> usr/lib when usr-merged)
  vmlinux: string;
  modulesDir: string;
}

// The private apt configuration a stack's kernel comes through (none: the system's).
export function archiveOf(stack: Stack, root = cacheRoot()): Archive {
  const suite = STACK_INFO[stack].suite;
  return { suite, dir: suite === null ? null : join(stackCacheDir(stack, root), 'apt') };
}

// The concrete package the meta package points to (linux-image-6.1.0-NN-amd64).
export async function resolveKernelPackage(archive: Archive = { suite: null, dir: null }): Promise<string> {
  const result = await aptCache(archive, ['depends', KERNEL_META_PACKAGE]);
  const match = /Depends:\s*(linux-image-[\w.+-]+)/.exec(result.stdout);
  if (result.exitCode !== 0 || !match) {
    throw new NatscopeError(`apt knows no ${KERNEL_META_PACKAGE} package`, {
      hint:
        archive.suite === null
          ? 'the micro-VM uses Debian\'s kernel package: run "apt-get update" on a Debian 12 host'
          : `the private apt configuration in ${archive.dir} found none: remove that folder and run natscope vm setup again`,
    });
  }
  return match[1]!;
}

export function versionOfPackage(pkg: string): string {
  return pkg.replace(/^linux-image-/, '');
}

function kernelsDir(stack: Stack, root: string): string {
  return join(stackCacheDir(stack, root), 'kernels');
}

// A stack's kernel already unpacked in the cache, if any (newest first).
export async function cachedKernel(stack: Stack = selectedStack(), root = cacheRoot()): Promise<KernelImage | null> {
  const dir = kernelsDir(stack, root);
  const entries = await readdir(dir).catch(() => [] as string[]);
  // newest first, by version: 6.1.0-56 after 6.1.0-9
  for (const version of entries.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))) {
    if (version.startsWith('.')) continue; // an unpacking in progress
    const image = kernelAt(join(dir, version), version);
    if (existsSync(join(image.dir, '.complete'))) return image;
  }
  return null;
}

function kernelAt(dir: string, version: string): KernelImage {
  return { version, dir, vmlinux: join(dir, 'vmlinux'), modulesDir: join(dir, 'lib', 'modules', version) };
}

export async function fetchKernel(
  log: (line: string) => void,
  stack: Stack = selectedStack(),
  root = cacheRoot(),
): Promise<KernelImage> {
  const archive = archiveOf(stack, root);
  await prepareArchive(archive, log);
  const pkg = await resolveKernelPackage(archive);
  const version = versionOfPackage(pkg);
  const image = kernelAt(join(kernelsDir(stack, root), version), version);
  if (existsSync(join(image.dir, '.complete'))) return image;

  await mkdir(kernelsDir(stack, root), { recursive: true });
  const work = await mkdtemp(join(kernelsDir(stack, root), `.${version}-`));
  try {
    log(`downloading ${pkg} (apt-get download${archive.suite ? `, Debian ${archive.suite}` : ''})`);
    const download = await aptDownload(archive, pkg, work);
    const debs = (await readdir(work)).filter((f) => f.endsWith('.deb'));
    if (download.exitCode !== 0 || debs.length === 0) {
      throw new NatscopeError(`could not download ${pkg}: ${download.stderr.trim().split('\n').pop() ?? ''}`, {
        hint: 'check that apt can reach the Debian mirror ("apt-get update")',
      });
    }
    const unpacked = join(work, 'root');
    log(`unpacking ${debs[0]}`);
    await unpackKernel(join(work, debs[0]!), unpacked, version);
    await writeFile(join(unpacked, '.complete'), `${pkg}\n`);
    await rm(image.dir, { recursive: true, force: true });
    await rename(unpacked, image.dir);
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// A kernel package made ready to boot: unpacked, checked (modules, BTF),
// modules.dep written, the ELF vmlinux taken out of the bzImage.
export async function unpackKernel(deb: string, into: string, version: string): Promise<void> {
  const pkg = deb.split('/').pop();
  await run('dpkg-deb', ['-x', deb, into], 'dpkg (apt-get install dpkg)');
  // usr-merged packages (Debian 13) ship usr/lib/modules: the guest, modprobe
  // and depmod look in lib/modules
  if (!existsSync(join(into, 'lib')) && existsSync(join(into, 'usr', 'lib', 'modules'))) {
    await symlink('usr/lib', join(into, 'lib'));
  }
  const modules = join(into, 'lib', 'modules', version);
  if (!existsSync(join(modules, 'kernel'))) {
    throw new NatscopeError(`the kernel package ${pkg} has no modules (no lib/modules/${version}/kernel)`, {
      hint: "the micro-VM needs a modular kernel package like Debian's linux-image-amd64 (netfilter, 9p and overlay are modules there)",
    });
  }
  const bzImage = join(into, 'boot', `vmlinuz-${version}`);
  if (!existsSync(bzImage)) {
    throw new NatscopeError(`the kernel package ${pkg} has no boot/vmlinuz-${version}`, {
      hint: "use Debian's linux-image-amd64 package (natscope vm setup fetches it)",
    });
  }
  const config = await readFile(join(into, 'boot', `config-${version}`), 'utf8').catch(() => null);
  if (config !== null && !/^CONFIG_DEBUG_INFO_BTF=y/m.test(config)) {
    throw new NatscopeError(`the kernel ${version} has no BTF (CONFIG_DEBUG_INFO_BTF is not set)`, {
      hint: "natscope's probes read kernel structures through BTF: use a kernel built with CONFIG_DEBUG_INFO_BTF=y, like Debian's linux-image-amd64",
    });
  }
  // the .deb ships no modules.dep: the guest's modprobe needs one
  await run('depmod', ['-b', into, version], 'kmod (apt-get install kmod)');
  await extractVmlinux(await readFile(bzImage), join(into, 'vmlinux'));
}

async function run(command: string, args: string[], pkg: string): Promise<void> {
  const result = await execa(command, args, { reject: false });
  if (result.exitCode !== 0) {
    const why =
      'code' in result && result.code === 'ENOENT'
        ? `${command} not found`
        : String(result.stderr).trim().split('\n').pop();
    throw new NatscopeError(`preparing the VM kernel failed: ${command}: ${why}`, {
      hint: `install ${pkg}, then: sudo natscope vm setup`,
    });
  }
}

const MAGICS: { name: string; bytes: Buffer }[] = [
  { name: 'xz', bytes: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { name: 'zstd', bytes: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { name: 'gzip', bytes: Buffer.from([0x1f, 0x8b, 0x08]) },
];

const ELF = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

// What the kernel's scripts/extract-vmlinux does: find the payload's
// compression magic inside the bzImage and decompress from there into `out`.
export async function extractVmlinux(bzImage: Buffer, out: string): Promise<void> {
  const payloadPath = `${out}.payload`;
  try {
    for (const { name, bytes } of MAGICS) {
      let at = bzImage.indexOf(bytes);
      while (at !== -1) {
        await writeFile(payloadPath, bzImage.subarray(at));
        if (await decompress(name, payloadPath, out)) return;
        at = bzImage.indexOf(bytes, at + 1);
      }
    }
  } finally {
    await rm(payloadPath, { force: true });
  }
  throw new NatscopeError('could not find an ELF kernel inside the bzImage', {
    hint: 'the kernel package may use a compression natscope does not know; please report it',
  });
}

// True when `out` holds an ELF image. Trailing bytes after the compressed
// stream make the tools exit non-zero although the output is whole.
async function decompress(kind: string, payload: string, out: string): Promise<boolean> {
  // the files are the child's stdin/stdout themselves: 65 MB through Node pipes is far slower
  const input = await open(payload, 'r');
  const output = await open(out, 'w');
  try {
    await new Promise<void>((resolve) => {
      const child = spawn(kind, ['-dc'], { stdio: [input.fd, output.fd, 'ignore'] });
      child.on('close', () => resolve());
      child.on('error', () => resolve());
    });
  } finally {
    await input.close();
    await output.close();
  }
  const head = await readFile(out)
    .then((b) => b.subarray(0, 4))
    .catch(() => Buffer.alloc(0));
  return head.equals(ELF);
}
