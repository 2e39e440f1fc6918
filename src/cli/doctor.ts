// natscope doctor: how it is spelled.

import type { Command } from '@commander-js/extra-typings';
import type { SetExit } from './common.js';

export function registerDoctor(program: Command, setExit: SetExit): void {
  program
    .command('doctor')
    .description('check what this machine can trace and what to fix')
    .option('--json', 'one JSON object with every check')
    .addHelpText('after', '\nExamples:\n  $ sudo natscope doctor\n  $ sudo natscope doctor --json | jq .checks')
    .action(async (opts) => {
      const { doctor } = await import('../commands/doctor.js');
      setExit(await doctor({ json: Boolean(opts.json) }));
    });
}
