// Host programs run inside a container's network namespace (nsenter --net):
// the office and vpn containers need no tools or capabilities of their own,
// and the lab's routes and rules are set with the VM's ip, iptables and
// conntrack, exactly as in the netns lab.

import { nsenterFailed, nsenterMissing } from '../../util/nsenter.js';
import { run, type RunOptions, type RunResult } from './tools.js';

export async function inNetnsOf(pid: number, argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await run('nsenter', ['--target', String(pid), '--net', '--', ...argv], { ...options, reject: false });
  const missing = nsenterMissing(r);
  if (missing) throw missing;
  if (r.exitCode !== 0 && options.reject !== false) throw nsenterFailed(argv, `the namespace of PID ${pid}`, r);
  return r;
}

// `ip -batch -`: many ip commands in one process.
export async function ipBatch(pid: number, lines: string[]): Promise<void> {
  await inNetnsOf(pid, ['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
}
