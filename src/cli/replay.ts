// natscope replay: how it is spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import { nonNegativeNumber, type SetExit } from './common.js';

export function registerReplay(program: Command, setExit: SetExit): void {
  program
    .command('replay')
    .description('print a recorded event stream (no root needed)')
    .argument('<file>', 'a JSONL recording (natscope trace --record, demo --record), or - for standard input')
    .option('--json', 'JSON Lines on stdout')
    .addOption(
      new Option('--speed <n>', 'pace: 1 = as recorded, 10 = ten times faster, 0 = at once')
        .argParser(nonNegativeNumber)
        .default(0),
    )
    .option('--flows', 'after the events, one line per correlated flow')
    .addHelpText(
      'after',
      '\nExamples:\n  $ natscope replay test/fixtures/recordings/incident.jsonl --flows\n  $ natscope replay run.jsonl --json | jq -c "select(.kind==\\"drop\\")"\n  $ sudo natscope trace --json | natscope replay - --flows',
    )
    .action(async (file, opts) => {
      const { replay } = await import('../commands/replay.js');
      setExit(await replay({ file, json: Boolean(opts.json), speed: opts.speed, flows: Boolean(opts.flows) }));
    });
}
