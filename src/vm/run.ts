// Runs one command as root in a throw-away micro-VM: a stock kernel that has
// kprobes and BTF, a root filesystem read-only under a tmpfs overlay (the
// host's, or the stack's own with natscope's checkout shared in at its
// path: src/vm/stack.ts), a read-write run folder (and optional shares at
// their host paths). The command's stdin/stdout are the VM's second serial port,
// bridged to qemu's stdio; its stderr the third, bridged to a socket.
// The VM powers off when the command ends; nothing outlives the run: qemu
// gets SIGKILL if natscope dies (setpriv --pdeathsig), and the run folder
// and qemu are cleaned up on every exit path.
// This file runs qemu; what it decides is data elsewhere: what the guest is
// handed (guest.ts), and when to give up on a boot and how a run ended
// (outcome.ts).

import { existsSync, type Stats, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { EXIT, NatscopeError } from '../errors.js';
import { onCleanup } from '../util/cleanup.js';
import { deferred } from '../util/deferred.js';
import { isAlive, killGroup } from '../util/process.js';
import { projectRoot } from '../util/paths.js';
import { makeRunDir, removeRunDir } from '../util/rundir.js';
import { cachedKernel, fetchKernel, type KernelImage } from './kernel.js';
import { ensureInitramfs, GUEST_SCRIPT } from './initramfs.js';
import { guestFiles } from './guest.js';
import {
  bootGiveUpMs,
  bootStep,
  consoleExcerpt,
  type KilledFor,
  kernelPanic,
  type VmEnding,
  vmVerdict,
} from './outcome.js';
import { chooseAccel, QEMU, qemuArgs, type Accel, type VmLink } from './qemu.js';
import { vmPrerequisites } from './prereqs.js';
import { ensureRootfs } from './rootfs.js';
import { hostPortSocket, type PortName } from './ports.js';
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
  // virtio-serial ports the guest may write to (at /dev/virtio-ports/NAME), read on the handle's `ports`
  ports?: PortName[];
  // a network link to another micro-VM (the guest's eth0, down and without an address)
  link?: VmLink;
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
  // what the guest writes to each virtio-serial port asked for (ends when the VM does)
  ports: Map<PortName, Readable>;
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

// The run folder's files that natscope reads or qemu opens (the guest's inputs: src/vm/guest.ts).
function runFiles(runDir: string) {
  return {
    started: join(runDir, 'started'),
    rc: join(runDir, 'rc'),
    console: join(runDir, 'console.log'),
    socket: join(runDir, 'stderr.sock'),
  };
}
type RunFiles = ReturnType<typeof runFiles>;

interface VmStreams {
  stdin: PassThrough;
  stdout: PassThrough;
  stderr: PassThrough;
}

// What one run holds while qemu runs (and is relaunched under TCG when a KVM guest hangs).
interface QemuRun {
  child: ResultPromise | undefined;
  killedFor: KilledFor;
  accel: Accel;
  bootMs: number | null;
  // qemu's own complaints (its last line explains a VM that died)
  qemuStderr: string;
  qemuExit: VmEnding['qemuExit'];
  // the guest kernel panicked while booting once already: not tried again
  bootRetried: boolean;
}

// A --share is a folder given by its full path: the guest mounts it at the same
// path, so a relative one would land elsewhere, and qemu cannot share a file
// (it failed with its own error, after the boot).
function checkShare(dir: string): void {
  const refuse = (why: string, hint: string) =>
    new NatscopeError(`--share ${JSON.stringify(dir)} ${why}`, { hint, exitCode: EXIT.usage });
  if (dir === '') throw refuse('is empty', 'name a folder: --share "$PWD/out"');
  if (!isAbsolute(dir)) throw refuse('is not a full path', `give its full path: --share "$PWD/${dir}"`);
  let info: Stats;
  try {
    info = statSync(dir);
  } catch {
    throw refuse('does not exist', `create it first: mkdir -p ${dir}`);
  }
  if (!info.isDirectory()) throw refuse('is not a folder', `share the folder it is in: --share ${dirname(dir)}`);
}

function checkRequest(options: VmOptions): void {
  for (const dir of options.shares ?? []) checkShare(dir);
  // a wrong NATSCOPE_VM_ACCEL is refused before anything boots
  chooseAccel();
  if (options.argv.length === 0)
    throw new NatscopeError('no command to run in the VM', {
      hint: 'natscope vm run -- uname -r',
      exitCode: EXIT.usage,
    });
}

async function writeGuestFiles(runDir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(runDir, name), text, name === GUEST_SCRIPT ? { mode: 0o755 } : {});
  }
}

// The guest's stderr (and each virtio-serial port) arrives on a socket qemu connects to.
async function listenForStderr(socketPath: string, stderr: Writable): Promise<Server> {
  const server: Server = createServer((socket: Socket) => {
    socket.pipe(stderr, { end: false });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return server;
}

function launchQemu(
  run: QemuRun,
  image: VmImage,
  options: VmOptions,
  runDir: string,
  files: RunFiles,
  io: VmStreams,
): ResultPromise {
  const accel = run.accel;
  options.log?.(
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
    ports: (options.ports ?? []).map((name) => ({ name, socket: hostPortSocket(runDir, name) })),
    link: options.link,
  });
  const proc = execa('setpriv', ['--pdeathsig', 'KILL', '--', QEMU, ...args], {
    detached: true,
    reject: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  proc.stdout?.pipe(io.stdout, { end: false });
  proc.stderr?.on('data', (d: Buffer) => {
    if (run.qemuStderr.length < 8192) run.qemuStderr += d.toString();
  });
  if (proc.stdin) io.stdin.pipe(proc.stdin);
  proc.stdin?.on('error', () => undefined); // qemu gone: nothing more to write
  return proc;
}

// Watches the guest until it reaches the command, qemu exits, or a KVM guest is given up on.
async function watchBoot(run: QemuRun, child: ResultPromise, launchedAt: number, vm: BootContext): Promise<void> {
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  const giveUpMs = bootGiveUpMs(run.accel, vm.options.kvmBootTimeoutMs);
  while (run.bootMs === null) {
    const elapsedMs = performance.now() - launchedAt;
    const step = bootStep({ qemuExited: exited, commandStarted: existsSync(vm.files.started), elapsedMs, giveUpMs });
    if (step === 'exited') return;
    if (step === 'started') {
      run.bootMs = Math.round(elapsedMs);
      vm.options.log?.(`micro-VM up in ${(run.bootMs / 1000).toFixed(1)} s; running: ${vm.options.argv.join(' ')}`);
      vm.onStarted(run.bootMs);
      return;
    }
    if (step === 'give-up') {
      run.killedFor = 'kvm-retry';
      killGroup(child, 'SIGKILL');
      return;
    }
    await sleep(100);
  }
}

interface BootContext {
  options: VmOptions;
  files: RunFiles;
  launch: () => ResultPromise;
  onStarted: (bootMs: number) => void;
}

// Runs qemu until it exits for good: a KVM guest that does not reach the command is retried under TCG.
async function runQemu(run: QemuRun, vm: BootContext): Promise<void> {
  for (;;) {
    const launchedAt = performance.now();
    const child = vm.launch();
    run.child = child;
    const overall = setTimeout(() => {
      run.killedFor = 'timeout';
      killGroup(run.child, 'SIGKILL');
    }, vm.options.timeoutMs);
    await watchBoot(run, child, launchedAt, vm);
    const ended = await child;
    const code = ended.exitCode ?? null;
    const signal = ended.signal ?? null;
    // neither: it never ran (setpriv or qemu missing, a spawn error), and execa says why
    run.qemuExit = {
      code,
      signal,
      error: code === null && signal === null ? (ended.shortMessage ?? 'no exit code') : null,
    };
    clearTimeout(overall);
    // the guest kernel panicked before the command started (-no-reboot: qemu exits 0): booted again, once
    if (run.killedFor === null && run.bootMs === null && code === 0 && !run.bootRetried) {
      const panic = kernelPanic(await readFile(vm.files.console, 'utf8').catch(() => ''));
      if (panic !== null) {
        run.bootRetried = true;
        vm.options.log?.(`the guest kernel panicked while booting (${panic}): booting it again`);
        continue;
      }
    }
    if (run.killedFor !== 'kvm-retry') return;
    vm.options.log?.('the KVM guest did not reach the command: retrying under software emulation (TCG)');
    run.killedFor = null;
    run.accel = 'tcg';
  }
}

export async function startVm(options: VmOptions): Promise<VmHandle> {
  checkRequest(options);
  const image = await prepareImage(options.log ?? (() => undefined), options.stack ?? selectedStack());
  // natscope's own (src/util/rundir.ts): a folder whose owner died (kill -9) is removed by the next run
  const runDir = await makeRunDir('vm');
  const files = runFiles(runDir);
  await writeGuestFiles(
    runDir,
    guestFiles({
      argv: options.argv,
      ownRoot: image.root !== '/',
      execPath: process.execPath,
      hostEnv: process.env,
      env: options.env ?? {},
      cwd: options.cwd ?? process.cwd(),
      shares: options.shares ?? [],
      readOnlyShares: image.readOnlyShares,
      ports: options.ports ?? [],
      link: options.link !== undefined,
    }),
  );

  const io: VmStreams = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  const wallStart = performance.now();
  const server = await listenForStderr(files.socket, io.stderr);
  const ports = new Map<PortName, PassThrough>();
  const portServers: Server[] = [];
  for (const name of options.ports ?? []) {
    const stream = new PassThrough({ highWaterMark: 1 << 20 });
    ports.set(name, stream);
    portServers.push(await listenForStderr(hostPortSocket(runDir, name), stream));
  }
  const run: QemuRun = {
    child: undefined,
    killedFor: null,
    accel: chooseAccel(),
    bootMs: null,
    qemuStderr: '',
    qemuExit: { code: null, signal: null, error: null },
    bootRetried: false,
  };
  const killQemu = (signal: NodeJS.Signals) => killGroup(run.child, signal);
  const cleanup = onCleanup(
    'stop the micro-VM',
    async () => {
      run.killedFor ??= 'stop';
      killQemu('SIGKILL');
      await run.child?.catch(() => undefined);
      server.close();
      for (const s of portServers) s.close();
      await removeRunDir(runDir);
    },
    () => killQemu('SIGKILL'),
  );
  const started = deferred<number>();
  started.promise.catch(() => undefined);

  const result = (async (): Promise<VmResult> => {
    try {
      await runQemu(run, {
        options,
        files,
        launch: () => launchQemu(run, image, options, runDir, files, io),
        onStarted: started.resolve,
      });
      const wallMs = Math.round(performance.now() - wallStart);
      const verdict = vmVerdict({
        killedFor: run.killedFor,
        bootMs: run.bootMs,
        timeoutMs: options.timeoutMs,
        rcText: await readFile(files.rc, 'utf8').catch(() => null),
        qemuStderr: run.qemuStderr,
        qemuExit: run.qemuExit,
        consoleTail: await consoleTail(files.console),
      });
      if (verdict.notStarted !== null) started.reject(new NatscopeError(verdict.notStarted));
      const { exitCode, failure, detail } = verdict;
      return { exitCode, failure, detail, accel: run.accel, bootMs: run.bootMs, wallMs };
    } finally {
      io.stdout.end();
      io.stderr.end();
      for (const stream of ports.values()) stream.end();
      await cleanup.run();
    }
  })();

  return {
    ...io,
    ports,
    started: started.promise,
    result,
    async stop() {
      run.killedFor ??= 'stop';
      killQemu('SIGKILL');
      return result;
    },
    leftovers() {
      const left: string[] = [];
      const pid = run.child?.pid;
      if (pid !== undefined && isAlive(pid)) left.push(`qemu (pid ${pid})`);
      if (existsSync(runDir)) left.push(`the run folder ${runDir}`);
      return left;
    },
  };
}

async function consoleTail(path: string): Promise<string> {
  return consoleExcerpt(await readFile(path, 'utf8').catch(() => ''));
}
