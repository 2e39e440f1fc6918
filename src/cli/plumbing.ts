// Hidden commands natscope starts itself, not meant for users:
//   agent --stdio   the kernel side inside the micro-VM (JSON Lines on stdio)
//   broker          keeps a micro-VM lab up across commands (started by lab up)
// Both bring up the lab they are asked for, with the same options.

import type { Command } from '@commander-js/extra-typings';
import type { AgentCommandOptions } from '../commands/agent.js';
import { iptablesOption, prefixOption, proxyModeOption, type SetExit } from './common.js';

// the lab's options, as lab up passes them on
function withLabOptions(command: Command) {
  return command
    .addOption(prefixOption())
    .option('--masquerade-all')
    .option('--cluster-cidr <cidr>')
    .addOption(proxyModeOption())
    .addOption(iptablesOption());
}

function labOf(opts: ReturnType<ReturnType<typeof withLabOptions>['opts']>): AgentCommandOptions {
  return {
    prefix: opts.prefix,
    masqueradeAll: Boolean(opts.masqueradeAll),
    clusterCIDR: opts.clusterCidr ?? null,
    proxyMode: opts.proxyMode,
    iptables: opts.iptables,
  };
}

export function registerPlumbing(program: Command, setExit: SetExit): void {
  withLabOptions(
    program
      .command('agent', { hidden: true })
      .description('the kernel side, serving commands and events as JSON Lines on stdio (used inside the micro-VM)')
      .option('--stdio', 'serve on stdin/stdout'),
  ).action(async (opts) => {
    const { agent } = await import('../commands/agent.js');
    setExit(await agent(labOf(opts)));
  });
  withLabOptions(
    program
      .command('broker', { hidden: true })
      .description('keep a micro-VM lab up and serve it on a socket (started by lab up)'),
  ).action(async (opts) => {
    const { broker } = await import('../commands/agent.js');
    setExit(await broker(labOf(opts)));
  });
}
