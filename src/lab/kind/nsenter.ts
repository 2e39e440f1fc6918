// Host programs run inside a container's network namespace (nsenter --net):
// the office and vpn containers need no tools or capabilities of their own,
// and the lab's routes and rules are set with the VM's ip, iptables and
// conntrack, exactly as in the netns lab.

import { run, type RunOptions, type RunResult } from './tools.js';

export function inNetnsOf(pid: number, argv: string[], options: RunOptions = {}): Promise<RunResult> {
  return run('nsenter', ['--target', String(pid), '--net', '--', ...argv], options);
}

// `ip -batch -`: many ip commands in one process.
export async function ipBatch(pid: number, lines: string[]): Promise<void> {
  await inNetnsOf(pid, ['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
}
