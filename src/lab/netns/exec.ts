// Running programs inside the lab's namespaces. Every command names its
// namespace explicitly (ip -n NS, ip netns exec NS): nothing here runs
// against the host's own network namespace.

import { readdir } from 'node:fs/promises';
import { execa, type Options } from 'execa';
import { NatscopeError } from '../../errors.js';
import { NAMED_NETNS_DIR } from '../../tracer/netns.js';

export class CommandFailed extends NatscopeError {}

const PACKAGES: Record<string, string> = {
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-save': 'iptables',
  'iptables-legacy-restore': 'iptables',
  'iptables-legacy-save': 'iptables',
  conntrack: 'conntrack',
  ping: 'iputils-ping',
  sysctl: 'procps',
};

function failure(what: string, result: { stderr?: unknown; exitCode?: number; code?: string }): CommandFailed {
  // `ip netns exec` reports a missing program on stderr rather than as ENOENT
  const missing =
    result.code === 'ENOENT'
      ? what.split(' ')[0]
      : /exec of "([^"]+)" failed: No such file/.exec(String(result.stderr ?? ''))?.[1];
  if (missing) {
    const bin = missing.split('/').pop() ?? missing;
    return new CommandFailed(`${bin} not found`, {
      hint: `apt-get install ${PACKAGES[bin] ?? bin} (npm run setup installs it)`,
    });
  }
  const text =
    String(result.stderr ?? '')
      .trim()
      .split('\n')
      .pop() ?? '';
  return new CommandFailed(`${what} failed (exit ${result.exitCode ?? '?'}): ${text}`);
}

// `ip -n NS -batch -`: many ip commands in one process, all in NS.
export async function ipBatch(ns: string | null, lines: string[]): Promise<void> {
  const args = ns ? ['-n', ns, '-batch', '-'] : ['-batch', '-'];
  const result = await execa('ip', args, { input: `${lines.join('\n')}\n`, reject: false });
  if (result.exitCode !== 0) throw failure(`ip ${ns ? `-n ${ns} ` : ''}-batch`, result);
}

export async function inNetns(ns: string, argv: string[], options: Options = {}) {
  const result = await execa('ip', ['netns', 'exec', ns, ...argv], { reject: false, ...options });
  if (result.exitCode !== 0 && options.reject !== false) {
    throw failure(`${argv[0]} in ${ns}`, result as { stderr?: unknown; exitCode?: number; code?: string });
  }
  return result;
}

// Named namespaces (what `ip netns list` shows).
export async function listNetns(): Promise<string[]> {
  return readdir(NAMED_NETNS_DIR).catch(() => []);
}

export async function netnsPids(ns: string): Promise<number[]> {
  const result = await execa('ip', ['netns', 'pids', ns], { reject: false });
  return result.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}
