// The root filesystem of a stack that brings its own userland (debian13):
// Debian's packages installed with debootstrap into natscope's cache, once,
// then shared read-only into the micro-VM instead of this host's root. The
// lab's C helper is not built in it: the host's build (natscope's checkout
// is shared in) runs there too, as Debian 13's C library is newer.

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { NatscopeError } from '../errors.js';
import { splitLines } from '../util/lines.js';
import { cacheRoot, debianMirror, STACK_INFO, type Stack, stackCacheDir } from './stack.js';

// What natscope runs in the guest: the tracer, the lab (ip, iptables, nft,
// conntrack, ping, sysctl, nsenter), its own Node.js, modprobe, and the
// guest script's tools (bash, mount, stty, setpriv: in the base system).
export const ROOTFS_PACKAGES: readonly string[] = Object.freeze([
  'bpftrace',
  'iproute2',
  'iptables',
  'nftables',
  'conntrack',
  'nodejs',
  'kmod',
  'procps',
  'iputils-ping',
  'busybox',
  'tcpdump',
]);

// Programs a finished root filesystem must have.
const MUST_HAVE = ['usr/bin/bpftrace', 'usr/bin/node', 'usr/sbin/ip', 'usr/sbin/iptables', 'usr/sbin/conntrack'];

export function rootfsDir(stack: Stack, root = cacheRoot()): string {
  return join(stackCacheDir(stack, root), 'rootfs');
}

// What the .complete marker holds: a different package list builds anew.
function marker(stack: Stack): string {
  return `${STACK_INFO[stack].suite} ${ROOTFS_PACKAGES.join(',')}\n`;
}

export async function cachedRootfs(stack: Stack, root = cacheRoot()): Promise<string | null> {
  const dir = rootfsDir(stack, root);
  const complete = await readFile(join(dir, '.complete'), 'utf8').catch(() => null);
  return complete === marker(stack) ? dir : null;
}

// Builds the stack's root filesystem (about a minute and 700 MB), unless cached.
export async function ensureRootfs(stack: Stack, log: (line: string) => void, root = cacheRoot()): Promise<string> {
  const suite = STACK_INFO[stack].suite;
  if (STACK_INFO[stack].root !== 'debootstrap' || suite === null) throw new Error(`${stack} uses the host's root`);
  const cached = await cachedRootfs(stack, root);
  if (cached) return cached;
  if (process.getuid?.() !== 0) {
    throw new NatscopeError(`the ${stack} root filesystem is not built yet`, {
      hint: `run: sudo natscope vm setup --stack ${stack}`,
    });
  }
  const parent = stackCacheDir(stack, root);
  await mkdir(parent, { recursive: true });
  await removeAbandoned(parent);
  const work = await mkdtemp(join(parent, '.rootfs-'));
  // whose build this is: a later build removes it once its owner is gone
  await writeFile(`${work}.owner`, String(process.pid));
  try {
    log(`building the ${stack} root filesystem: debootstrap ${suite} (about a minute, ~700 MB)`);
    const child = execa(
      'debootstrap',
      ['--variant=minbase', `--include=${ROOTFS_PACKAGES.join(',')}`, suite, work, debianMirror()],
      { reject: false, all: true, buffer: false, stdin: 'ignore', env: { DEBIAN_FRONTEND: 'noninteractive' } },
    );
    // a progress line when a phase starts (Retrieving, Extracting, Unpacking, Configuring, …), not per package
    const phases = new Set<string>();
    const tail: string[] = [];
    if (child.all) {
      for await (const item of splitLines(child.all, 1 << 16)) {
        if (!('line' in item)) continue;
        const line = item.line.replace(/[^\x20-\x7e]/g, '');
        tail.push(line);
        if (tail.length > 5) tail.shift();
        const word = /^I: (\w+)/.exec(line)?.[1];
        if (word && !phases.has(word)) {
          phases.add(word);
          log(`debootstrap: ${line.slice(3, 100)}`);
        }
      }
    }
    const result = await child;
    if ('code' in result && result.code === 'ENOENT') {
      throw new NatscopeError(`building the ${stack} root filesystem needs debootstrap`, {
        hint: `apt-get install debootstrap (sudo natscope vm setup --stack ${stack} installs it)`,
      });
    }
    const missing = MUST_HAVE.filter((p) => !existsSync(join(work, p)));
    if (result.exitCode !== 0 || missing.length > 0) {
      const why = tail.filter((l) => /^E:|^W:|error/i.test(l)).pop() ?? tail.pop() ?? `exit code ${result.exitCode}`;
      throw new NatscopeError(
        `debootstrap could not build the ${stack} root filesystem: ${missing.length > 0 && result.exitCode === 0 ? `${missing.join(', ')} missing` : why}`,
        {
          hint: `check that this machine reaches ${debianMirror()} (or set NATSCOPE_DEBIAN_MIRROR), then run natscope vm setup --stack ${stack} again`,
        },
      );
    }
    // the downloaded packages are installed: 200 MB the guest never reads
    await rm(join(work, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    await mkdir(join(work, 'var', 'cache', 'apt', 'archives', 'partial'), { recursive: true });
    await writeFile(join(work, '.complete'), marker(stack));
    const dir = rootfsDir(stack, root);
    await rm(dir, { recursive: true, force: true });
    await rename(work, dir);
    log(`${stack} root filesystem ready in ${dir}`);
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(`${work}.owner`, { force: true });
  }
}

// Half-built trees of builds whose process is gone (killed mid-debootstrap).
async function removeAbandoned(parent: string): Promise<void> {
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith('.rootfs-') || name.endsWith('.owner')) continue;
    const owner = Number(await readFile(join(parent, `${name}.owner`), 'utf8').catch(() => '0'));
    if (owner > 0 && existsSync(`/proc/${owner}`)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
    await rm(join(parent, `${name}.owner`), { force: true });
  }
}
