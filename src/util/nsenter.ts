// What a finished `nsenter --net … -- PROGRAM` says went wrong, as natscope
// reports it: a missing program (nsenter's own, or the one it was to run)
// names its package; any other failure quotes the last line of stderr.
// Both ways natscope enters a namespace with nsenter use it: a kind
// container's by PID (src/lab/kind/nsenter.ts) and a traced host's by path
// (src/ruletrace/netnsPath.ts).

import { NatscopeError } from '../errors.js';

const PACKAGES: Record<string, string> = {
  nsenter: 'util-linux',
  ip: 'iproute2',
  iptables: 'iptables',
  'iptables-save': 'iptables',
  'iptables-restore': 'iptables',
  conntrack: 'conntrack',
  nft: 'nftables',
  ping: 'iputils-ping',
};

export interface NsenterResult {
  stderr?: unknown;
  exitCode?: number;
  // ENOENT: nsenter itself is missing
  code?: string;
}

// The program that was not found, if that is why it failed.
export function nsenterMissing(result: NsenterResult): NatscopeError | null {
  // nsenter reports a program it cannot find on stderr, with exit 127
  const missing =
    result.code === 'ENOENT'
      ? 'nsenter'
      : /failed to execute (\S+): No such file or directory/.exec(String(result.stderr ?? ''))?.[1];
  if (!missing) return null;
  const bin = missing.split('/').pop() ?? missing;
  return new NatscopeError(`${bin} not found`, {
    hint: `apt-get install ${PACKAGES[bin] ?? bin} (npm run setup installs it)`,
    exitCode: 127,
  });
}

// `argv` run in `where` (a namespace, as the message names it) failed.
export function nsenterFailed(argv: string[], where: string, result: NsenterResult): NatscopeError {
  const last =
    String(result.stderr ?? '')
      .trim()
      .split('\n')
      .pop() ?? '';
  return new NatscopeError(`${argv[0]} in ${where} failed (exit ${result.exitCode ?? '?'}): ${last}`);
}
