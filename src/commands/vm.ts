// natscope vm setup | vm run: the throw-away micro-VM (src/vm), on one of
// its stacks (src/vm/stack.ts: --stack, else NATSCOPE_VM_STACK, else debian12).

import { EXIT } from '../errors.js';
import { ensurePackages } from '../util/apt.js';
import { progress } from '../util/progress.js';
import { requireRoot } from '../util/root.js';
import { safeText } from '../util/terminal.js';
import { cachedKernel, fetchKernel } from '../vm/kernel.js';
import { ensureInitramfs } from '../vm/initramfs.js';
import { vmPackages } from '../vm/prereqs.js';
import { ensureRootfs } from '../vm/rootfs.js';
import { startVm } from '../vm/run.js';
import { STACK_INFO, selectedStack } from '../vm/stack.js';

export interface VmSetupOptions {
  // a stack name (checked here), or undefined for the default
  stack?: string;
}

export async function vmSetup(options: VmSetupOptions = {}): Promise<number> {
  const stack = selectedStack(options.stack);
  requireRoot('vm setup');
  const step = progress(`vm setup ${stack}`);
  await ensurePackages(vmPackages(stack), step.log);
  const kernel = (await cachedKernel(stack)) ?? (await fetchKernel(step.log, stack));
  const initramfs = await ensureInitramfs(kernel, step.log);
  const root = STACK_INFO[stack].root === 'host' ? 'this host' : await ensureRootfs(stack, step.log);
  step.done(`micro-VM ready (${stack}): kernel ${kernel.version}, ${initramfs}, root filesystem: ${root}`);
  return 0;
}

export interface VmRunOptions {
  argv: string[];
  timeoutS: number;
  shares: string[];
  quiet: boolean;
  stack?: string;
}

export async function vmRun(options: VmRunOptions): Promise<number> {
  const stack = selectedStack(options.stack);
  requireRoot('vm run');
  const step = progress('vm', options.quiet);
  const vm = await startVm({
    argv: options.argv,
    stack,
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
    process.stderr.write(`natscope: ${safeText(result.detail ?? '')}\n`);
    return EXIT.timeout;
  }
  if (result.failure === 'stopped') return EXIT.interrupted;
  if (result.failure === 'vm') {
    // the detail quotes the guest's console: its text is the guest's, not natscope's
    process.stderr.write(`natscope: micro-VM failure: ${safeText(result.detail ?? '')}\n`);
    return result.exitCode;
  }
  step.done(
    `command exited with ${result.exitCode} (boot ${((result.bootMs ?? 0) / 1000).toFixed(1)} s, total ${(result.wallMs / 1000).toFixed(1)} s, ${result.accel})`,
  );
  return result.exitCode;
}
