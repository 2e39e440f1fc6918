// A traced host is a network namespace reachable by a path: a named one
// (/run/netns/NAME, the netns lab's hosts) or a process's
// (/proc/PID/ns/net, a kind container's). Programs run there through
// `nsenter --net=PATH`, which enters that namespace only (no mount or PID
// namespace: nft, ping and the request program are this machine's).

import { spawnSync } from 'node:child_process';
import { execa, type Options, type ResultPromise } from 'execa';
import { NatscopeError } from '../errors.js';
import { NAMED_NETNS_DIR } from '../tracer/netns.js';
import { nsenterFailed, nsenterMissing } from '../util/nsenter.js';

export function namedNetnsPath(name: string): string {
  return `${NAMED_NETNS_DIR}/${name}`;
}

export function pidNetnsPath(pid: number): string {
  if (!Number.isInteger(pid) || pid < 1) throw new NatscopeError(`${pid} is not a process ID`);
  return `/proc/${pid}/ns/net`;
}

// The argv that runs `argv` in the namespace at `netns`.
export function nsenterArgs(netns: string, argv: string[]): string[] {
  return [`--net=${netns}`, '--', ...argv];
}

// Runs a program in the namespace at `netns`; throws a one-line error when
// it fails (unless reject is false).
export async function inNetnsAt(netns: string, argv: string[], options: Options = {}) {
  // no input: no pipe left open for a program that reads its stdin
  const stdin = options.input === undefined ? { stdin: 'ignore' as const } : {};
  const result = await execa('nsenter', nsenterArgs(netns, argv), { ...stdin, ...options, reject: false });
  const missing = nsenterMissing(result);
  if (missing) throw missing;
  if (result.exitCode !== 0 && options.reject !== false) throw nsenterFailed(argv, netns, result);
  return result;
}

// A long-running program in the namespace at `netns`, its stdout streamed
// (as text, or as bytes with encoding 'buffer').
export function spawnInNetnsAt(netns: string, argv: string[], options: { encoding?: 'buffer' } = {}): ResultPromise {
  return execa('nsenter', nsenterArgs(netns, argv), {
    buffer: false,
    stdin: 'ignore',
    stderr: 'ignore',
    reject: false,
    ...options,
  });
}

// The same, synchronously and silently: for natscope's last moments (a third Ctrl-C).
export function inNetnsAtSync(netns: string, argv: string[]): void {
  spawnSync('nsenter', nsenterArgs(netns, argv), { stdio: 'ignore' });
}
