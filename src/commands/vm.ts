// natscope vm setup | vm run: the throw-away micro-VM (src/vm).

import { EXIT } from '../errors.js';
import { ensurePackages } from '../util/apt.js';
import { progress } from '../util/progress.js';
import { requireRoot } from '../util/root.js';
import { cachedKernel, fetchKernel } from '../vm/kernel.js';
import { ensureInitramfs } from '../vm/initramfs.js';
import { VM_PACKAGES } from '../vm/prereqs.js';
import { startVm } from '../vm/run.js';

export async function vmSetup(): Promise<number> {
  requireRoot('vm setup');
  const step = progress('vm setup');
  await ensurePackages(VM_PACKAGES, step.log);
  const kernel = (await cachedKernel()) ?? (await fetchKernel(step.log));
  const initramfs = await ensureInitramfs(kernel, step.log);
  step.done(`micro-VM ready: kernel ${kernel.version}, ${initramfs}`);
  return 0;
}

export interface VmRunOptions {
  argv: string[];
  timeoutS: number;
  shares: string[];
  quiet: boolean;
}

export async function vmRun(options: VmRunOptions): Promise<number> {
  requireRoot('vm run');
  const step = progress('vm', options.quiet);
  const vm = await startVm({
    argv: options.argv,
    timeoutMs: options.timeoutS * 1000,
    shares: options.shares,
    log: step.log,
  });
  process.stdin.pipe(vm.stdin);
  vm.stdout.pipe(process.stdout);
  vm.stderr.pipe(process.stderr);
  const result = await vm.result;
  process.stdin.unpipe(vm.stdin);
  process.stdin.pause();
  if (result.failure === 'timeout') {
    process.stderr.write(`natscope: ${result.detail}\n`);
    return EXIT.timeout;
  }
  if (result.failure === 'stopped') return EXIT.interrupted;
  if (result.failure === 'vm') {
    process.stderr.write(`natscope: micro-VM failure: ${result.detail}\n`);
    return result.exitCode;
  }
  step.done(
    `command exited with ${result.exitCode} (boot ${((result.bootMs ?? 0) / 1000).toFixed(1)} s, total ${(result.wallMs / 1000).toFixed(1)} s, ${result.accel})`,
  );
  return result.exitCode;
}
