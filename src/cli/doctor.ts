// natscope doctor: how it is spelled.

import type { Command } from '@commander-js/extra-typings';
import { labOption, prefixOption, type SetExit } from './common.js';

export function registerDoctor(program: Command, setExit: SetExit): void {
  program
    .command('doctor')
    .description('check what this machine can trace and what to fix')
    .option('--json', 'one JSON object with every check')
    .addOption(labOption())
    .addOption(prefixOption('name prefix of the lab to check (--lab kind)'))
    .addHelpText(
      'after',
      '\nExamples:\n  $ sudo natscope doctor\n  $ sudo natscope doctor --json | jq .checks\n  $ sudo natscope doctor --lab kind      # the workshop VM after vagrant up: every lab fact, in seconds',
    )
    .action(async (opts) => {
      const { doctor } = await import('../commands/doctor.js');
      setExit(await doctor({ json: Boolean(opts.json), lab: opts.lab, prefix: opts.prefix }));
    });
}
