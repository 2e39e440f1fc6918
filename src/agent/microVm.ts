// The agent inside the micro-VM: the command line that starts it there (it
// brings the lab up, and starts bpftrace when asked), and the VM that runs
// it, whose serial port carries the agent's JSON Lines both ways, and whose
// trace ports carry bpftrace's output to its parser on the host
// (src/agent/vmTracer.ts, hostTraced.ts).

import type { IptablesBackend, ProxyMode } from '../events/types.js';
import { forEachLine } from '../util/lines.js';
import { natscopeCommand } from '../util/runtime.js';
import { TRACE_PORTS } from '../vm/ports.js';
import { startVm, type VmHandle } from '../vm/run.js';
import { PortRuns } from './vmTracer.js';

export interface VmAgentOptions {
  prefix: string;
  masqueradeAll?: boolean;
  clusterCIDR?: string | null;
  proxyMode?: ProxyMode;
  iptables?: IptablesBackend;
}

export function agentArgs(options: VmAgentOptions): string[] {
  const args = [...natscopeCommand(), 'agent', '--stdio', '--prefix', options.prefix];
  if (options.masqueradeAll) args.push('--masquerade-all');
  if (options.clusterCIDR) args.push('--cluster-cidr', options.clusterCIDR);
  if (options.proxyMode && options.proxyMode !== 'iptables') args.push('--proxy-mode', options.proxyMode);
  if (options.iptables) args.push('--iptables', options.iptables);
  return args;
}

// Boots the micro-VM with the agent as its command, and its trace ports;
// the guest's progress lines (its stderr) go to `log`.
export async function startVmAgent(
  options: VmAgentOptions & { timeoutMs: number; log: (line: string) => void; shares?: string[] },
): Promise<VmHandle> {
  const vm = await startVm({
    argv: agentArgs(options),
    timeoutMs: options.timeoutMs,
    log: options.log,
    shares: options.shares,
    ports: [TRACE_PORTS.out, TRACE_PORTS.err],
  });
  forEachLine(vm.stderr, (line) => options.log(`vm: ${line.replace(/^\[[^\]]*\]\s*/, '')}`));
  return vm;
}

// The runs of bpftrace on a VM's trace ports.
export function tracePortRuns(vm: VmHandle, report: (message: string) => void): PortRuns {
  const out = vm.ports.get(TRACE_PORTS.out);
  const err = vm.ports.get(TRACE_PORTS.err);
  if (!out || !err) throw new Error('this micro-VM was started without its trace ports');
  return new PortRuns(out, err, report);
}
