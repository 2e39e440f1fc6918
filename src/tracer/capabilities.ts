// What this machine lets a tracer do, found by trying rather than guessing:
// a one-probe bpftrace program is attached for real to tell whether kernel
// function probes (kfunc: nat, conntrack, rewrite), kprobes, and
// tracepoints (drop) work here.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { ATTACHED, bpftraceBinary } from './bpftrace.js';
import { VMLINUX_BTF } from './btf.js';

export interface AttachResult {
  ok: boolean;
  detail: string;
}

// Attaches `probe` with an empty body and exits at once.
export async function tryAttach(probe: string, binary = bpftraceBinary()): Promise<AttachResult> {
  const program = `${probe} { @hits = count(); } interval:ms:100 { exit(); } END { clear(@hits); }`;
  try {
    const result = await execa(binary, ['-e', program], {
      reject: false,
      timeout: 60_000,
      env: { [ATTACHED]: '1' },
      stdin: 'ignore',
    });
    if (result.stderr.includes(ATTACHED) && result.exitCode === 0) return { ok: true, detail: 'attached' };
    const line =
      result.stderr
        .split('\n')
        .filter((l) => /ERROR|cannot|No such file/i.test(l) && !/RLIMIT_MEMLOCK/.test(l))
        .pop() ?? `exit code ${result.exitCode}`;
    return {
      ok: false,
      detail: line
        .replace(/^stdin:[\d:-]+:\s*/, '')
        .replace(/^ERROR:\s*/, '')
        .trim(),
    };
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  }
}

let kfuncCache: Promise<AttachResult> | undefined;

// A kfunc (fentry) on a function every kernel has: what natscope's nat,
// conntrack and rewrite probes need. Cached for the process.
export function functionProbesAttach(): Promise<AttachResult> {
  kfuncCache ??= tryAttach('kfunc:vfs_read');
  return kfuncCache;
}

// Informational: kprobes are the older way to the same functions.
export function kprobesAttach(): Promise<AttachResult> {
  return tryAttach('kprobe:vfs_read');
}

export function tracepointsAttach(): Promise<AttachResult> {
  return tryAttach('tracepoint:skb:kfree_skb');
}

// Lockdown mode, read in a private mount namespace so the host's mounts stay as they are.
export async function lockdownMode(): Promise<string | null> {
  const direct = '/sys/kernel/security/lockdown';
  let text: string | null = null;
  if (existsSync(direct)) {
    text = await readFile(direct, 'utf8').catch(() => null);
  } else {
    const result = await execa(
      'unshare',
      ['-m', 'sh', '-c', 'mount -t securityfs none /sys/kernel/security && cat /sys/kernel/security/lockdown'],
      { reject: false, timeout: 10_000 },
    ).catch(() => null);
    if (result && result.exitCode === 0) text = result.stdout;
  }
  if (!text) return null;
  // "none [integrity] confidentiality": the bracketed word is the active mode
  return /\[(\w+)\]/.exec(text)?.[1] ?? text.trim();
}

// bpftrace reads the list of traceable functions before it attaches kfuncs or kprobes.
export async function functionListReadable(): Promise<AttachResult> {
  for (const path of [
    '/sys/kernel/tracing/available_filter_functions',
    '/sys/kernel/debug/tracing/available_filter_functions',
  ]) {
    if (!existsSync(path)) continue;
    try {
      await readFile(path, 'utf8');
      return { ok: true, detail: path };
    } catch (error) {
      return {
        ok: false,
        detail: (error as NodeJS.ErrnoException).code === 'EPERM' ? 'not readable (EPERM)' : (error as Error).message,
      };
    }
  }
  return { ok: false, detail: 'absent (tracefs not mounted, or no function tracer)' };
}

export function btfPresent(): boolean {
  return existsSync(VMLINUX_BTF);
}

export function tracefsMounted(): boolean {
  return existsSync('/sys/kernel/tracing/events') || existsSync('/sys/kernel/debug/tracing/events');
}

// bpftrace needs tracefs for tracepoints and function probes; mounting it is what any tracer does.
export async function ensureTracefs(): Promise<void> {
  if (tracefsMounted()) return;
  await execa('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { reject: false });
}

// CONFIG_KPROBES from /boot/config-<release> or /proc/config.gz; null if neither exists.
export async function kprobesConfigured(): Promise<boolean | null> {
  const config =
    (await readFile(`/boot/config-${release()}`, 'utf8').catch(() => null)) ??
    (await readFile('/proc/config.gz')
      .then((z) => gunzipSync(z).toString('utf8'))
      .catch(() => null));
  if (config === null) return null;
  return /^CONFIG_KPROBES=y/m.test(config);
}

export async function iptablesBackend(): Promise<'nft' | 'legacy' | 'unknown'> {
  const result = await execa('iptables', ['--version'], { reject: false }).catch(() => null);
  if (result?.exitCode !== 0) return 'unknown';
  if (/nf_tables/.test(result.stdout)) return 'nft';
  if (/legacy/.test(result.stdout)) return 'legacy';
  return 'unknown';
}
