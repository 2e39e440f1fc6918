// natscope demo: how it is spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import {
  labAttachTimeoutOption,
  labOption,
  positiveNumber,
  prefixOption,
  proxyModeOption,
  type SetExit,
  vmOption,
} from './common.js';

export function registerDemo(program: Command, setExit: SetExit): void {
  program
    .command('demo')
    .description('the incident, step by step: every claim checked against what the kernel did in this run')
    .addOption(labOption())
    .addOption(vmOption())
    .option('--auto', 'no pauses (CI, recording); exit 0 only if every check passed')
    .option('--json', 'one JSON line per step: {"step","title","ok","evidence"}')
    .addOption(
      new Option('--step <n>', 'start at step N (the lab is brought to the state it needs)').argParser(positiveNumber),
    )
    .option('--record <file>', 'keep the event stream of this run')
    .option('--replay <file>', 'tell the story from a recording (no root needed)')
    .addOption(prefixOption())
    .addOption(proxyModeOption())
    .addOption(labAttachTimeoutOption())
    .addHelpText(
      'after',
      `
Examples:
  $ sudo natscope demo                      # interactive: Enter next, b back, q quit
  $ sudo natscope demo --auto --json        # for CI: one verdict per step
  $ sudo natscope demo --proxy-mode nftables # kube-proxy's nftables mode: its table, its fix, its ping
  $ sudo natscope demo --attach-timeout 600 # a slow (emulated) machine: give bpftrace longer to attach
  $ natscope demo --replay test/fixtures/recordings/walkthrough.jsonl --auto`,
    )
    .action(async (opts, command) => {
      const { demo } = await import('../commands/demo.js');
      setExit(
        await demo({
          lab: opts.lab,
          vm: opts.vm,
          auto: Boolean(opts.auto),
          json: Boolean(opts.json),
          step: opts.step,
          record: opts.record,
          replay: opts.replay,
          prefix: opts.prefix,
          attachTimeoutS: opts.attachTimeout,
          // asked for, or not: the walkthrough otherwise follows the lab that is up (or the recording)
          proxyMode: command.getOptionValueSource('proxyMode') === 'default' ? undefined : opts.proxyMode,
        }),
      );
    });
}
