// natscope trace: how it is spelled.

import { type Command, Option } from '@commander-js/extra-typings';
import {
  labAttachTimeoutOption,
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
    .addOption(labAttachTimeoutOption())
    .option(
      '--rules',
      "which rule did it: one lab request (--request) with the kernel's rule tracing (nftrace) on every host it crosses",
    )
    .option(
      '--request <target>',
      'with --rules: the Service or pod to send the request to (nginx, mysql, pod/nginx, pod/mysql)',
    )
    .option(
      '--events',
      "with --rules: also attach the nat, conntrack and drop probes for the request, and put each rule's decision next to what the kernel did (kernel function probes: the micro-VM here)",
    )
    .addOption(
      new Option('--timeout <seconds>', 'with --rules: give up on the request after this long')
        .argParser(positiveNumber)
        .default(3),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sudo natscope trace                           # default probes on the lab (micro-VM if function probes are locked down)
  $ sudo natscope trace --probes drop --all-netns # tracepoints only, every namespace
  $ sudo natscope trace --json --record run.jsonl | jq 'select(.kind=="nat")'
  $ sudo natscope trace --json --detail all       # every event whole, even under load (costs the traced node more)
  $ sudo natscope trace --rules --request mysql   # the rules each host's kernel applied to one request (lab on this host)
  $ sudo natscope trace --rules --request mysql --lab kind   # the same on the kind lab: office, vpn and node containers
  $ sudo natscope trace --rules --request mysql --json | jq -r '.rulePath.summary[]'
  $ sudo natscope trace --rules --request mysql --events  # and each rule next to the kernel's NAT binding or drop (lab up --vm on)`,
    )
    .action(async (opts, command) => {
      const given = (name: string) => command.getOptionValueSource(name) === 'cli';
      if (opts.rules || opts.request !== undefined || given('timeout') || opts.events) {
        const { checkRulesOptions } = await import('../commands/traceRules.js');
        const { traceRules } = await import('../commands/traceRules.js');
        checkRulesOptions({
          rules: Boolean(opts.rules),
          request: opts.request,
          timeoutGiven: given('timeout'),
          events: Boolean(opts.events),
          timeoutS: opts.timeout,
          others: ['probes', 'record', 'duration', 'allNetns', 'detail', 'attachTimeout'].filter(given),
        });
        setExit(
          await traceRules({
            target: opts.request ?? '',
            timeoutS: opts.timeout,
            json: Boolean(opts.json),
            prefix: opts.prefix,
            vm: opts.vm,
            lab: opts.lab,
            events: Boolean(opts.events),
            attachTimeoutS: opts.attachTimeout,
          }),
        );
        return;
      }
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
