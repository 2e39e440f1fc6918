// natscope agent --stdio (inside the micro-VM) and natscope broker (the
// host-side owner of a micro-VM lab): plumbing, not for users.

import { Agent } from '../agent/agent.js';
import { runBroker } from '../agent/broker.js';
import { serveStream, writer } from '../agent/serve.js';
import { describeError } from '../errors.js';
import { base, type IptablesBackend, type ProxyMode } from '../events/types.js';
import { NetnsLab } from '../lab/netns/lab.js';
import { progress } from '../util/progress.js';

export interface AgentCommandOptions {
  prefix: string;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  proxyMode: ProxyMode;
  iptables?: IptablesBackend;
}

export async function agent(options: AgentCommandOptions): Promise<number> {
  const emit = writer(process.stdout);
  const step = progress('agent');
  // bpftrace runs here on the host's request (portTrace), its output on the trace ports for the host's parser
  const a = new Agent({ lab: null, where: 'micro-vm', emit, log: step.log });
  const startFailed = (what: string) => (error: unknown) => {
    emit({
      ...base('error', 'natscope', 0),
      message: `${what} failed: ${describeError(error)}`,
      source: 'agent-start',
    });
    throw error;
  };
  try {
    const lab = await NetnsLab.up({
      prefix: options.prefix,
      masqueradeAll: options.masqueradeAll,
      clusterCIDR: options.clusterCIDR,
      proxyMode: options.proxyMode,
      iptables: options.iptables,
      log: step.log,
    }).catch(startFailed('lab up'));
    step.log('lab up');
    await a.setLab(lab);
    await a.announce();
    await serveStream(a, process.stdin, emit);
  } finally {
    await a.shutdown(true);
  }
  return 0;
}

export async function broker(options: AgentCommandOptions): Promise<number> {
  return runBroker(options);
}
