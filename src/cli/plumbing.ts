// Hidden commands natscope starts itself, not meant for users:
//   agent --stdio   the kernel side inside the micro-VM (JSON Lines on stdio)
//   broker          keeps a micro-VM lab up across commands (started by lab up)

import type { Command } from '@commander-js/extra-typings';
import { iptablesOption, prefixOption, proxyModeOption, type SetExit } from './common.js';

export function registerPlumbing(program: Command, setExit: SetExit): void {
  program
    .command('agent', { hidden: true })
    .description('the kernel side, serving commands and events as JSON Lines on stdio (used inside the micro-VM)')
    .option('--stdio', 'serve on stdin/stdout')
    .addOption(prefixOption())
    .option('--masquerade-all')
    .option('--cluster-cidr <cidr>')
    .addOption(proxyModeOption())
    .addOption(iptablesOption())
    .action(async (opts) => {
      const { agent } = await import('../commands/agent.js');
      setExit(
        await agent({
          prefix: opts.prefix,
          masqueradeAll: Boolean(opts.masqueradeAll),
          clusterCIDR: opts.clusterCidr ?? null,
          proxyMode: opts.proxyMode,
          iptables: opts.iptables,
        }),
      );
    });
  program
    .command('broker', { hidden: true })
    .description('keep a micro-VM lab up and serve it on a socket (started by lab up)')
    .addOption(prefixOption())
    .option('--masquerade-all')
    .option('--cluster-cidr <cidr>')
    .addOption(proxyModeOption())
    .addOption(iptablesOption())
    .action(async (opts) => {
      const { broker } = await import('../commands/agent.js');
      setExit(
        await broker({
          prefix: opts.prefix,
          masqueradeAll: Boolean(opts.masqueradeAll),
          clusterCIDR: opts.clusterCidr ?? null,
          proxyMode: opts.proxyMode,
          iptables: opts.iptables,
        }),
      );
    });
}
