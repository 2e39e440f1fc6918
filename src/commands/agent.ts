// natscope agent --stdio (inside the micro-VM) and natscope session serve
// (the host-side broker of a micro-VM lab): plumbing, not for users.

import { Agent } from '../agent/agent.js';
import { runBroker } from '../agent/broker.js';
import { serveStream, writer } from '../agent/serve.js';
import { base } from '../events/types.js';
import { NetnsLab } from '../lab/netns/lab.js';
import { progress } from '../util/progress.js';

export interface AgentCommandOptions {
  prefix: string;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  probes: string | null;
  allNetns: boolean;
}

export async function agent(options: AgentCommandOptions): Promise<number> {
  const emit = writer(process.stdout);
  const step = progress('agent');
  let lab: NetnsLab;
  try {
    lab = await NetnsLab.up({ prefix: options.prefix, masqueradeAll: options.masqueradeAll, clusterCIDR: options.clusterCIDR, log: step.log });
  } catch (error) {
    emit({ ...base('error', 'natscope', 0), message: `lab up failed: ${(error as Error).message}`, source: 'agent-start' });
    throw error;
  }
  step.log('lab up');
  const a = new Agent({ lab, where: 'micro-vm', emit, log: step.log });
  try {
    await a.announce();
    if (options.probes) {
      try {
        await a.startTracing(options.probes.split(','), options.allNetns);
      } catch (error) {
        emit({ ...base('error', 'natscope', 0), message: `tracer failed: ${(error as Error).message}`, source: 'agent-start' });
        throw error;
      }
    }
    await serveStream(a, process.stdin, emit);
  } finally {
    await a.shutdown(true);
  }
  return 0;
}

export async function sessionServe(options: { prefix: string; masqueradeAll: boolean; clusterCIDR: string | null }): Promise<number> {
  return runBroker(options);
}
