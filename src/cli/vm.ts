// natscope vm setup | vm run: how they are spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import { STACKS } from '../vm/stack.js';
import { positiveNumber, type SetExit } from './common.js';

// which kernel and userland the micro-VM runs (src/vm/stack.ts); unset: NATSCOPE_VM_STACK, else debian12
const stackOption = () =>
  new Option(
    '--stack <name>',
    "the micro-VM's stack: debian12 (Debian 12's kernel 6.1, this host's root filesystem) or debian13 (kernel 6.12, a Debian 13 root with bpftrace 0.23); default: $NATSCOPE_VM_STACK, else debian12",
  ).choices(STACKS);

export function registerVm(program: Command, setExit: SetExit): void {
  const vm = program
    .command('vm')
    .description('the throw-away micro-VM that runs the real probes where kernel function probes are locked down');
  vm.command('setup')
    .description(
      'install qemu, busybox-static, kmod and fetch the VM kernel; for debian13 also build its root filesystem (idempotent)',
    )
    .addOption(stackOption())
    .addHelpText('after', '\nExamples:\n  $ sudo natscope vm setup\n  $ sudo natscope vm setup --stack debian13')
    .action(async (opts) => {
      const { vmSetup } = await import('../commands/vm.js');
      setExit(await vmSetup({ stack: opts.stack }));
    });
  vm.command('run')
    .description("boot the micro-VM, run a command as root in it, power off; exits with the command's code")
    .argument('<command...>', 'the command and its arguments (after --)')
    .addOption(
      new Option('--timeout <seconds>', 'give up after this long (exit 124)').argParser(positiveNumber).default(300),
    )
    .option(
      '--share <dir>',
      'mount this host folder read-write at the same path in the VM (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .option('-q, --quiet', 'no progress lines')
    .addOption(stackOption())
    .addHelpText(
      'after',
      `
Exit codes: the command's own; 124 if it timed out; 125 if the VM failed.

Examples:
  $ sudo natscope vm run -- uname -r
  $ sudo natscope vm run --stack debian13 -- bpftrace --version
  $ sudo natscope vm run --share "$PWD/out" -- natscope trace --duration 20 --record "$PWD/out/run.jsonl"`,
    )
    .action(async (argv, opts) => {
      const { vmRun } = await import('../commands/vm.js');
      setExit(
        await vmRun({
          argv,
          timeoutS: opts.timeout,
          shares: opts.share,
          quiet: Boolean(opts.quiet),
          stack: opts.stack,
        }),
      );
    });
}
