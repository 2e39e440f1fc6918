// natscope trace: how it is spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import {
  attachTimeoutOption,
  detailOption,
  labOption,
  positiveNumber,
  prefixOption,
  type SetExit,
  vmOption,
} from './common.js';

export function registerTrace(program: Command, setExit: SetExit): void {
  program
    .command('trace')
    .description('stream NAT, conntrack and drop events from the kernel')
    .option('--probes <list>', 'probe families: nat,conntrack,drop,rewrite', 'nat,conntrack,drop')
    .option('--json', 'JSON Lines on stdout (the event stream)')
    .option('--record <file>', 'also write the event stream to FILE')
    .addOption(new Option('--duration <seconds>', 'stop after this long').argParser(positiveNumber))
    .option('--all-netns', 'keep events from namespaces the lab does not own')
    .addOption(detailOption())
    .addOption(prefixOption())
    .addOption(vmOption())
    .addOption(labOption())
    .addOption(attachTimeoutOption().default(90))
    .addHelpText(
      'after',
      `
Examples:
  $ sudo natscope trace                           # default probes on the lab (micro-VM if function probes are locked down)
  $ sudo natscope trace --probes drop --all-netns # tracepoints only, every namespace
  $ sudo natscope trace --json --record run.jsonl | jq 'select(.kind=="nat")'
  $ sudo natscope trace --json --detail all       # every event whole, even under load (costs the traced node more)`,
    )
    .action(async (opts, command) => {
      const { trace } = await import('../commands/trace.js');
      setExit(
        await trace({
          probes: opts.probes,
          json: Boolean(opts.json),
          record: opts.record,
          durationS: opts.duration,
          allNetns: Boolean(opts.allNetns),
          detail: opts.detail,
          vm: opts.vm,
          attachTimeoutS: opts.attachTimeout,
          prefix: opts.prefix,
          prefixGiven: command.getOptionValueSource('prefix') === 'cli',
          lab: opts.lab,
        }),
      );
    });
}
