// Runs one command as root in a throw-away micro-VM: a stock kernel that has
// kprobes and BTF, a root filesystem read-only under a tmpfs overlay (the
// host's, or the stack's own with natscope's checkout shared in at its
// path: src/vm/stack.ts), a read-write run folder (and optional shares at
// their host paths). The command's stdin/stdout are the VM's second serial port,
// bridged to qemu's stdio; its stderr the third, bridged to a socket.
// The VM powers off when the command ends; nothing outlives the run: qemu
// gets SIGKILL if natscope dies (setpriv --pdeathsig), and the run folder
// and qemu are cleaned up on every exit path.

import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { EXIT, NatscopeError } from '../errors.js';
import { onCleanup } from '../util/cleanup.js';
import { isAlive, killGroup } from '../util/process.js';
import { projectRoot } from '../util/paths.js';
import { makeRunDir, removeRunDir } from '../util/rundir.js';
import { cachedKernel, fetchKernel, type KernelImage } from './kernel.js';
import { ensureInitramfs, GUEST_RUN_DIR } from './initramfs.js';
import { chooseAccel, QEMU, qemuArgs, type Accel } from './qemu.js';
import { vmPrerequisites } from './prereqs.js';
import { ensureRootfs } from './rootfs.js';
import { STACK_INFO, type Stack, selectedStack } from './stack.js';

export interface VmOptions {
  argv: string[];
  // which kernel and userland (default: NATSCOPE_VM_STACK, else debian12)
  stack?: Stack;
  timeoutMs: number;
  // host folders mounted read-write at the same path in the guest
  shares?: string[];
  env?: Record<string, string>;
  cwd?: string;
  memoryMb?: number;
  cpus?: number;
  log?: (line: string) => void;
  // how long a KVM guest may take to reach the command before retrying under TCG
  kvmBootTimeoutMs?: number;
}

export interface VmResult {
  exitCode: number;
  // why natscope, not the command, decided the exit code
  failure: null | 'timeout' | 'vm' | 'stopped';
  detail: string | null;
  accel: Accel;
  bootMs: number | null;
  wallMs: number;
}

export interface VmHandle {
  stdin: Writable;
  stdout: Readable;
  stderr: Readable;
  // settles when the guest command has started (or rejects if the VM died first)
  started: Promise<number>;
  result: Promise<VmResult>;
  stop(): Promise<VmResult>;
  // what of this VM still exists (after result settles: nothing, or a leak)
  leftovers(): string[];
}

export interface VmImage {
  stack: Stack;
  kernel: KernelImage;
  initramfs: string;
  // the guest's root filesystem (/: this host's)
  root: string;
  // host folders the guest sees read-only at the same path
  readOnlyShares: string[];
}

// A root filesystem of the stack's own has its own Node.js, where this host's may live elsewhere.
export const GUEST_NODE = '/usr/bin/node';

// The kernel, initramfs and root filesystem, fetched and built on first use (root only).
export async function prepareImage(log: (line: string) => void, stack: Stack = selectedStack()): Promise<VmImage> {
  const pre = await vmPrerequisites(stack);
  const missing = pre.checks.filter(
    (c) => !c.ok && c.name !== 'vm-kernel' && c.name !== 'vm-accel' && c.name !== 'vm-rootfs',
  );
  if (missing.length > 0) {
    const first = missing[0]!;
    throw new NatscopeError(`the micro-VM needs ${first.name.replace(/^vm-/, '')}: ${first.detail}`, {
      hint: first.fix ?? 'run: sudo natscope vm setup',
      exitCode: EXIT.vmFailure,
    });
  }
  let kernel = await cachedKernel(stack);
  if (!kernel) {
    if (process.getuid?.() !== 0) {
      throw new NatscopeError(`the micro-VM kernel (${stack}) is not set up`, {
        hint: `run: sudo natscope vm setup --stack ${stack}`,
        exitCode: EXIT.vmFailure,
      });
    }
    kernel = await fetchKernel(log, stack);
  }
  const initramfs = await ensureInitramfs(kernel, log);
  if (STACK_INFO[stack].root === 'host') return { stack, kernel, initramfs, root: '/', readOnlyShares: [] };
  const root = await ensureRootfs(stack, log);
  return { stack, kernel, initramfs, root, readOnlyShares: [projectRoot()] };
}

// NUL-separated: any byte but NUL survives, so arguments need no shell quoting.
function nulList(items: string[]): string {
  return items.map((s) => `${s}\0`).join('');
}

export function guestScript(): string {
  const R = GUEST_RUN_DIR;
  return `#!/bin/bash
# natscope micro-VM: runs the requested command as root, then powers off.
R=${R}
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tracefs nodev /sys/kernel/tracing
mount -t debugfs nodev /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 none /sys/fs/cgroup
mkdir -p /run/netns /run/lock
hostname natscope-vm
ip link set lo up
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
i=0
while IFS= read -r -d '' dir; do
  mkdir -p "$dir" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose "roshare$i" "$dir"
  i=$((i + 1))
done < "$R/roshares"
i=0
while IFS= read -r -d '' dir; do
  mkdir -p "$dir" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 "share$i" "$dir"
  i=$((i + 1))
done < "$R/shares"
while IFS= read -r -d '' kv; do export "$kv"; done < "$R/env"
cd "$(cat "$R/cwd")" 2>/dev/null || cd /
mapfile -d '' -t ARGV < "$R/argv"
: > "$R/started"
"\${ARGV[@]}" < /dev/ttyS1 > /dev/ttyS1 2> /dev/ttyS2
echo $? > "$R/rc"
sync
echo o > /proc/sysrq-trigger
sleep 10
`;
}

const BASE_ENV: Record<string, string> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  TERM: 'dumb',
  LANG: 'C.UTF-8',
  NATSCOPE_IN_VM: '1',
};

export async function startVm(options: VmOptions): Promise<VmHandle> {
  const log = options.log ?? (() => undefined);
  for (const dir of options.shares ?? []) {
    if (!existsSync(dir))
      throw new NatscopeError(`share ${dir} does not exist`, {
        hint: 'create it first, or pass an existing folder',
        exitCode: EXIT.usage,
      });
  }
  if (options.argv.length === 0)
    throw new NatscopeError('no command to run in the VM', {
      hint: 'natscope vm run -- uname -r',
      exitCode: EXIT.usage,
    });
  const image = await prepareImage(log, options.stack ?? selectedStack());
  // natscope starting itself in the guest: under a root of the stack's own, with that root's Node.js
  const argv =
    image.root !== '/' && options.argv[0] === process.execPath ? [GUEST_NODE, ...options.argv.slice(1)] : options.argv;
  // natscope's own (src/util/rundir.ts): a folder whose owner died (kill -9) is removed by the next run
  const runDir = await makeRunDir('vm');
  const files = {
    guest: join(runDir, 'guest.sh'),
    started: join(runDir, 'started'),
    rc: join(runDir, 'rc'),
    console: join(runDir, 'console.log'),
    socket: join(runDir, 'stderr.sock'),
  };
  await writeFile(files.guest, guestScript(), { mode: 0o755 });
  await writeFile(join(runDir, 'argv'), nulList(argv));
  // natscope's own settings (NATSCOPE_DEBUG, NATSCOPE_QUIET, …) reach the guest too
  const own = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k, v]) => k.startsWith('NATSCOPE_') && v !== undefined && k !== 'NATSCOPE_CACHE',
    ),
  ) as Record<string, string>;
  await writeFile(
    join(runDir, 'env'),
    nulList(Object.entries({ ...own, ...BASE_ENV, ...options.env }).map(([k, v]) => `${k}=${v}`)),
  );
  await writeFile(join(runDir, 'cwd'), options.cwd ?? process.cwd());
  await writeFile(join(runDir, 'shares'), nulList(options.shares ?? []));
  await writeFile(join(runDir, 'roshares'), nulList(image.readOnlyShares));

  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const wallStart = performance.now();

  // The guest's stderr arrives on a socket qemu connects to.
  const server: Server = createServer((socket: Socket) => {
    socket.pipe(stderr, { end: false });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(files.socket, resolve);
  });

  let child: ResultPromise | undefined;
  let killedFor: 'timeout' | 'stop' | 'kvm-retry' | null = null;
  let qemuStderr = '';

  const launch = (accel: Accel) => {
    log(
      `booting the micro-VM (${image.stack}: kernel ${image.kernel.version}; ${accel === 'tcg' ? 'software emulation (TCG): expect ~5 s to boot' : 'KVM'})`,
    );
    const args = qemuArgs({
      accel,
      kernel: image.kernel.vmlinux,
      initramfs: image.initramfs,
      modulesDir: image.kernel.modulesDir,
      root: image.root,
      readOnlyShares: image.readOnlyShares,
      runDir,
      consoleLog: files.console,
      stderrSocket: files.socket,
      shares: options.shares ?? [],
      memoryMb: options.memoryMb ?? 2048,
      cpus: options.cpus ?? 2,
    });
    const proc = execa('setpriv', ['--pdeathsig', 'KILL', '--', QEMU, ...args], {
      detached: true,
      reject: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
    });
    proc.stdout?.pipe(stdout, { end: false });
    proc.stderr?.on('data', (d: Buffer) => {
      if (qemuStderr.length < 8192) qemuStderr += d.toString();
    });
    stdin.pipe(proc.stdin!);
    proc.stdin?.on('error', () => undefined); // qemu gone: nothing more to write
    return proc;
  };

  const killQemu = (signal: NodeJS.Signals) => killGroup(child?.pid, signal);

  const cleanup = onCleanup(
    'stop the micro-VM',
    async () => {
      killedFor ??= 'stop';
      killQemu('SIGKILL');
      await child?.catch(() => undefined);
      server.close();
      await removeRunDir(runDir);
    },
    () => killQemu('SIGKILL'),
  );

  let accel = chooseAccel();
  let startedResolve!: (ms: number) => void;
  let startedReject!: (e: Error) => void;
  const started = new Promise<number>((resolve, reject) => {
    startedResolve = resolve;
    startedReject = reject;
  });
  started.catch(() => undefined);
  let bootMs: number | null = null;

  const result = (async (): Promise<VmResult> => {
    try {
      for (;;) {
        const launchedAt = performance.now();
        child = launch(accel);
        const overall = setTimeout(() => {
          killedFor = 'timeout';
          killQemu('SIGKILL');
        }, options.timeoutMs);
        const retryAfter = accel === 'kvm' ? (options.kvmBootTimeoutMs ?? 20_000) : Infinity;
        let exited = false;
        void child.then(() => {
          exited = true;
        });
        // watch for the guest reaching the command
        while (!exited && bootMs === null) {
          if (existsSync(files.started)) {
            bootMs = Math.round(performance.now() - launchedAt);
            log(`micro-VM up in ${(bootMs / 1000).toFixed(1)} s; running: ${options.argv.join(' ')}`);
            startedResolve(bootMs);
            break;
          }
          if (performance.now() - launchedAt > retryAfter) {
            killedFor = 'kvm-retry';
            killQemu('SIGKILL');
            break;
          }
          await sleep(100);
        }
        await child;
        clearTimeout(overall);
        if (killedFor === 'kvm-retry') {
          log('the KVM guest did not reach the command: retrying under software emulation (TCG)');
          killedFor = null;
          accel = 'tcg';
          continue;
        }
        break;
      }
      const wallMs = Math.round(performance.now() - wallStart);
      const rcText = await readFile(files.rc, 'utf8').catch(() => null);
      const tail = await consoleTail(files.console);
      if (killedFor === 'timeout') {
        const reason =
          bootMs === null
            ? `the VM did not boot within ${options.timeoutMs / 1000} s`
            : `the command did not finish within ${options.timeoutMs / 1000} s`;
        startedReject(new NatscopeError(reason));
        return {
          exitCode: EXIT.timeout,
          failure: 'timeout',
          detail: bootMs === null ? `${reason}; console:\n${tail}` : reason,
          accel,
          bootMs,
          wallMs,
        };
      }
      if (killedFor === 'stop') {
        startedReject(new NatscopeError('the VM was stopped'));
        return { exitCode: EXIT.interrupted, failure: 'stopped', detail: 'stopped', accel, bootMs, wallMs };
      }
      if (rcText === null || !/^\d+\s*$/.test(rcText)) {
        const why = qemuStderr.trim().split('\n').pop() || 'the VM stopped before the command finished';
        startedReject(new NatscopeError(why));
        return {
          exitCode: EXIT.vmFailure,
          failure: 'vm',
          detail: `${why}${tail ? `; console:\n${tail}` : ''}`,
          accel,
          bootMs,
          wallMs,
        };
      }
      return { exitCode: Number(rcText.trim()), failure: null, detail: null, accel, bootMs, wallMs };
    } finally {
      stdout.end();
      stderr.end();
      await cleanup.run();
    }
  })();

  return {
    stdin,
    stdout,
    stderr,
    started,
    result,
    async stop() {
      killedFor ??= 'stop';
      killQemu('SIGKILL');
      return result;
    },
    leftovers() {
      const left: string[] = [];
      const pid = child?.pid;
      if (pid !== undefined && isAlive(pid)) left.push(`qemu (pid ${pid})`);
      if (existsSync(runDir)) left.push(`the run folder ${runDir}`);
      return left;
    },
  };
}

async function consoleTail(path: string, lines = 15): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.trim().split('\n').slice(-lines).join('\n');
}
