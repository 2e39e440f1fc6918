// natscope vm run for real (root, qemu under emulation): exit codes, streams,
// timeouts, shares with spaces, and nothing left behind on any path.

import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { runRoot } from '../../src/util/rundir.js';
import { cacheRoot } from '../../src/vm/stack.js';
import { CLI, natscope } from '../cli.js';
import { tempDirForTest } from '../helpers.js';

// A leak is a qemu whose run folder is gone, or a run folder no qemu uses.
// (Other VMs may run meanwhile, e.g. another test's: theirs have both.)
async function leaks(): Promise<{ qemu: string[]; dirs: string[] }> {
  const r = await execa('pgrep', ['-a', '-x', 'qemu-system-x86'], { reject: false });
  const running = String(r.stdout).split('\n').filter(Boolean);
  const dirsInUse = running.flatMap((l) => [...l.matchAll(/path=(\/\S*natscope-vm-[^/,\s]+)/g)].map((m) => m[1]!));
  const dirs = (existsSync(runRoot()) ? readdirSync(runRoot()) : [])
    .filter((d) => d.startsWith('natscope-vm-'))
    .map((d) => join(runRoot(), d));
  return {
    qemu: running.filter((l) => /natscope-vm-/.test(l) && !dirsInUse.some((d) => existsSync(d) && l.includes(d))),
    dirs: dirs.filter((d) => !dirsInUse.includes(d)),
  };
}

async function leavesNothing<T>(f: () => Promise<T>): Promise<T> {
  const result = await f();
  let found = await leaks();
  for (let i = 0; i < 50 && (found.qemu.length || found.dirs.length); i++) {
    await new Promise((r) => setTimeout(r, 100));
    found = await leaks();
  }
  expect(found).toEqual({ qemu: [], dirs: [] });
  return result;
}

// `natscope vm run -- CMD` started, once its guest has reached the command
// (in an object: the process is a promise too, which an async function would wait for).
async function vmRunning(argv: string[]) {
  const child = execa(process.execPath, [CLI, 'vm', 'run', '--', ...argv], { reject: false });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 600 && !/micro-VM up/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
  expect(err).toMatch(/micro-VM up/);
  return { child };
}

describe('natscope vm run', () => {
  test("exits with the command's own code and streams its stdout and stderr apart", async () => {
    const r = await leavesNothing(() =>
      natscope(['vm', 'run', '-q', '--', 'sh', '-c', 'echo "kernel $(uname -r)"; echo to-stderr >&2; exit 7']),
    );
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toMatch(/^kernel \d+\.\d+\.\d+-\d+-amd64$/m);
    expect(r.stderr).toContain('to-stderr');
    expect(r.stdout).not.toContain('to-stderr');
  });

  test('a share with spaces is mounted read-write at the same path; arguments keep their spaces', async () => {
    const dir = join(tempDirForTest('natscope vm share '), 'with space');
    mkdirSync(dir);
    const r = await leavesNothing(() =>
      natscope([
        'vm',
        'run',
        '-q',
        '--share',
        dir,
        '--',
        'sh',
        '-c',
        'printf "%s|" "$@" > "$0/out file.txt"',
        dir,
        'a b',
        'c',
      ]),
    );
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'out file.txt'), 'utf8')).toBe('a b|c|');
  });

  test('a command that does not finish in time: exit 124 and one line saying so', async () => {
    const r = await leavesNothing(() => natscope(['vm', 'run', '-q', '--timeout', '20', '--', 'sleep', '120']));
    expect(r.exitCode).toBe(124);
    expect(r.stderr).toMatch(/natscope: the command did not finish within 20 s/);
  });

  test('a VM that cannot boot in time: exit 124 with the console tail', async () => {
    const r = await leavesNothing(() => natscope(['vm', 'run', '-q', '--timeout', '1', '--', 'true']));
    expect(r.exitCode).toBe(124);
    expect(r.stderr).toMatch(/the VM did not boot within 1 s; console:/);
  });

  test('a broken kernel image: exit 125, a VM failure, with the reason', async () => {
    const cache = tempDirForTest('natscope broken cache ');
    const kdir = join(cache, 'kernels', '6.1.0-0-amd64');
    mkdirSync(join(kdir, 'lib', 'modules', '6.1.0-0-amd64'), { recursive: true });
    writeFileSync(join(kdir, 'vmlinux'), 'not a kernel');
    writeFileSync(join(kdir, 'initramfs.gz'), 'not an initramfs');
    writeFileSync(join(kdir, '.complete'), 'test\n');
    const r = await leavesNothing(() =>
      natscope(['vm', 'run', '-q', '--', 'true'], { env: { NATSCOPE_CACHE: cache } }),
    );
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/^natscope: micro-VM failure: .+/m);
  });

  test('a guest kernel that panics while booting is booted once more, then exit 125 with the panic', async () => {
    // this machine's own kernel, with an initramfs that is none: the kernel panics finding no init, every time
    const kernels = join(cacheRoot(), 'kernels');
    const real = readdirSync(kernels).find((k) => existsSync(join(kernels, k, '.complete')));
    expect(real).toBeDefined();
    const cache = tempDirForTest('natscope panicking cache ');
    const kdir = join(cache, 'kernels', real!);
    mkdirSync(join(kdir, 'lib', 'modules', real!), { recursive: true });
    copyFileSync(join(kernels, real!, 'vmlinux'), join(kdir, 'vmlinux'));
    writeFileSync(join(kdir, 'initramfs.gz'), 'not an initramfs');
    writeFileSync(join(kdir, '.complete'), 'test\n');
    const r = await leavesNothing(() =>
      natscope(['vm', 'run', '--timeout', '300', '--', 'true'], { env: { NATSCOPE_CACHE: cache } }),
    );
    expect(r.exitCode).toBe(125);
    // said once, with the kernel's own words, and the second panic reported
    expect(
      String(r.stderr).match(
        /the guest kernel panicked while booting \(Kernel panic - not syncing: VFS: .+\): booting it again$/gm,
      ),
    ).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^natscope: micro-VM failure: the VM stopped before the command started: the guest powered off or its kernel panicked/m,
    );
    expect(r.stderr).toMatch(/Kernel panic - not syncing/);
  });

  test('a guest kernel that panics: exit 125, saying the guest stopped after the command started, with its console', async () => {
    // sysrq "c" crashes the guest kernel on purpose; -no-reboot turns its panic into qemu's exit
    const r = await leavesNothing(() =>
      natscope(['vm', 'run', '-q', '--timeout', '120', '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger']),
    );
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(
      /^natscope: micro-VM failure: the VM stopped before the command finished: the guest powered off or its kernel panicked \(see the console\); console:$/m,
    );
    // the panic's cause, though its stack trace fills the console's last lines
    expect(r.stderr).toMatch(/Kernel panic - not syncing: sysrq triggered crash\n…\n/);
  });

  test('qemu killed from outside: exit 125 naming the signal, and natscope still cleans up', async () => {
    await leavesNothing(async () => {
      const { child } = await vmRunning(['sleep', '300']);
      // this run's own qemu: the child of the natscope process this test started
      const qemu = await execa('pgrep', ['-P', String(child.pid), '-x', 'qemu-system-x86']);
      const pid = Number(String(qemu.stdout).trim());
      expect(pid).toBeGreaterThan(1);
      process.kill(pid, 'SIGKILL');
      const r = await child;
      expect(r.exitCode).toBe(125);
      expect(r.stderr).toMatch(
        /^natscope: micro-VM failure: qemu was killed by SIGKILL, not by natscope \(the kernel's OOM killer sends it: see dmesg\)$/m,
      );
    });
  });

  test('no qemu on PATH: exit 125 naming the package', async () => {
    const r = await natscope(['vm', 'run', '--', 'true'], { env: { PATH: '/nonexistent' }, extendEnv: true });
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(
      /the micro-VM needs qemu: qemu-system-x86_64 not found\n {2}fix: apt-get install --no-install-recommends qemu-system-x86/,
    );
  });

  test('Ctrl-C stops the VM and removes its run folder', async () => {
    await leavesNothing(async () => {
      const { child } = await vmRunning(['sleep', '300']);
      child.kill('SIGINT');
      const r = await child;
      expect(r.exitCode).toBe(130);
    });
    expect(existsSync('/tmp')).toBe(true);
  });
});
