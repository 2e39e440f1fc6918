// Host programs run inside a container's network namespace (nsenter --net):
// the office and vpn containers need no tools or capabilities of their own,
// and the lab's routes and rules are set with the VM's ip, iptables and
// conntrack, exactly as in the netns lab.

import { NatscopeError } from '../../errors.js';
import { run, type RunOptions, type RunResult } from './tools.js';

const PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  conntrack: 'conntrack',
  ping: 'iputils-ping',
};

export async function inNetnsOf(pid: number, argv: string[], options: RunOptions = {}): Promise<RunResult> {
  const r = await run('nsenter', ['--target', String(pid), '--net', '--', ...argv], { ...options, reject: false });
  // nsenter reports a program it cannot find on stderr, with exit 127
  const missing = /failed to execute (\S+): No such file or directory/.exec(r.stderr)?.[1];
  if (missing) {
    const bin = missing.split('/').pop()!;
    throw new NatscopeError(`${bin} not found`, {
      hint: `apt-get install ${PACKAGES[bin] ?? bin} (npm run setup installs it)`,
      exitCode: 127,
    });
  }
  if (r.exitCode !== 0 && options.reject !== false) {
    throw new NatscopeError(
      `${argv[0]} in the namespace of PID ${pid} failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop() ?? ''}`,
    );
  }
  return r;
}

// `ip -batch -`: many ip commands in one process.
export async function ipBatch(pid: number, lines: string[]): Promise<void> {
  await inNetnsOf(pid, ['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
}
