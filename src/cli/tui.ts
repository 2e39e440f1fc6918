// natscope tui: how it is spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import {
  detailOption,
  labAttachTimeoutOption,
  labOption,
  nonNegativeNumber,
  prefixOption,
  type SetExit,
  vmOption,
} from './common.js';

export function registerTui(program: Command, setExit: SetExit): void {
  program
    .command('tui')
    .description('the live screen: DNAT and SNAT side by side, drops, each flow told hop by hop')
    .option('--replay <file>', 'play a recording instead of tracing (no root needed)')
    .addOption(
      new Option('--speed <n>', 'replay pace: 1 = as recorded, 0 = at once').argParser(nonNegativeNumber).default(1),
    )
    .option('--probes <list>', 'probe families to trace live', 'nat,conntrack,drop')
    .addOption(detailOption())
    .addOption(prefixOption())
    .addOption(vmOption())
    .addOption(labOption())
    .addOption(labAttachTimeoutOption())
    .addHelpText(
      'after',
      `
Keys: r request  m masqueradeAll  c clusterCIDR  w which rule  p pause  / filter  ↑↓ jk select  Enter details  s save  ? help  q quit

Examples:
  $ sudo natscope tui                                        # live, on the netns lab
  $ sudo natscope tui --attach-timeout 600                   # a slow (emulated) machine: give bpftrace longer to attach
  $ natscope tui --replay test/fixtures/recordings/incident.jsonl`,
    )
    .action(async (opts) => {
      const { tui } = await import('../commands/tui.js');
      setExit(
        await tui({
          replay: opts.replay,
          speed: opts.speed,
          probes: opts.probes,
          detail: opts.detail,
          prefix: opts.prefix,
          vm: opts.vm,
          lab: opts.lab,
          attachTimeoutS: opts.attachTimeout,
        }),
      );
    });
}
