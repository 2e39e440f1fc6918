// Running programs inside the lab's namespaces. Every command names its
// namespace explicitly (ip -n NS, ip netns exec NS): nothing here runs
// against the host's own network namespace.

import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { execa, type Options } from 'execa';
import { errnoOf, NatscopeError } from '../../errors.js';
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
  nft: 'nftables',
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

// `ip -batch -` that finishes its lines whatever happens to natscope: in a
// process group of its own (a terminal's Ctrl-C does not cut it short; natscope
// waits for it), holding the lab's lock (holdFd) until it exits, so that no one
// can take the lab down before its last line has run, even after a kill -9.
export async function ipBatchToTheEnd(lines: string[], holdFd: number | null): Promise<void> {
  // (execa passes no extra descriptors)
  const child = spawn('ip', ['-batch', '-'], {
    detached: true,
    stdio: ['pipe', 'ignore', 'pipe', ...(holdFd === null ? [] : [holdFd])],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdin?.on('error', () => undefined); // ip gone early: its exit status says why
  child.stdin?.end(`${lines.join('\n')}\n`);
  const result = await new Promise<{ exitCode?: number; code?: string }>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: error.code }));
    child.on('close', (code) => resolve({ exitCode: code ?? undefined }));
  });
  if (result.exitCode !== 0) throw failure('ip -batch', { ...result, stderr });
}

export async function inNetns(ns: string, argv: string[], options: Options = {}) {
  const result = await execa('ip', ['netns', 'exec', ns, ...argv], { reject: false, ...options });
  if (result.exitCode !== 0 && options.reject !== false) {
    throw failure(`${argv[0]} in ${ns}`, {
      stderr: result.stderr,
      exitCode: result.exitCode,
      code: errnoOf(result),
    });
  }
  return result;
}

// Named namespaces (what `ip netns list` shows).
export async function listNetns(): Promise<string[]> {
  return readdir(NAMED_NETNS_DIR).catch(() => []);
}

// The processes in these named namespaces (what `ip netns pids` prints), found
// in one pass over /proc instead of one `ip` process per namespace.
export async function netnsPids(namespaces: string[]): Promise<number[]> {
  const wanted = new Set<string>();
  for (const ns of namespaces) {
    const found = nsId(`${NAMED_NETNS_DIR}/${ns}`);
    if (found) wanted.add(found);
  }
  if (wanted.size === 0) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (/^\d+$/.test(entry) && wanted.has(nsId(`/proc/${entry}/ns/net`) ?? '')) pids.push(Number(entry));
  }
  return pids;
}

// A namespace's identity (device and inode of its nsfs file); null if it cannot be read (gone meanwhile).
function nsId(path: string): string | null {
  try {
    const found = statSync(path);
    return `${found.dev}:${found.ino}`;
  } catch {
    return null;
  }
}
