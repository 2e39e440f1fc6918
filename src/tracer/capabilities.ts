// What this machine lets a tracer do, found by trying rather than guessing:
// a one-probe bpftrace program is attached for real to tell whether kernel
// function probes (kfunc: nat, conntrack, rewrite), kprobes, and
// tracepoints (drop) work here; and natscope's own composed program is
// compiled and attached, as the tracer would, for the verdict that counts.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { z } from 'zod';
import type { IptablesBackend } from '../events/types.js';
import { describeError, errnoOf } from '../errors.js';
import { killGroup } from '../util/process.js';
import { ATTACHED, bpftraceBinary } from './bpftrace.js';
import { VMLINUX_BTF } from './btf.js';
import type { ProbeFamily } from './parse.js';
import { PROBE_FAMILIES } from './streams.js';
import { composeProgram } from './probes.js';
import { DEFAULT_DETAIL_PER_SECOND, detailBudgetArgument } from './detail.js';
import { bpftraceEnv, crashError, type DetectedBpftrace, TESTED_VERSIONS } from './version.js';

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
    // the notice is on stderr, or on stdout from bpftrace 0.23
    const noticed = result.stderr.includes(ATTACHED) || result.stdout.includes(ATTACHED);
    if (noticed && result.exitCode === 0) return { ok: true, detail: 'attached' };
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
    return { ok: false, detail: describeError(error) };
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
        detail: errnoOf(error) === 'EPERM' ? 'not readable (EPERM)' : describeError(error),
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

export async function iptablesBackend(): Promise<IptablesBackend | 'unknown'> {
  const result = await execa('iptables', ['--version'], { reject: false }).catch(() => null);
  if (result?.exitCode !== 0) return 'unknown';
  if (/nf_tables/.test(result.stdout)) return 'nft';
  if (/legacy/.test(result.stdout)) return 'legacy';
  return 'unknown';
}

// natscope's program tried here (part of doctor's report)
export const ProgramAttachSchema = z.object({
  probes: z.array(z.enum(PROBE_FAMILIES)),
  ok: z.boolean(),
  // compile and attach, when it attached
  attachMs: z.number().min(0).nullable(),
  detail: z.string(),
  // the kernel refused a function probe (lockdown, hidden ftrace): the micro-VM is the way
  refusedByKernel: z.boolean(),
  fix: z.string().nullable(),
});
export type ProgramAttach = z.infer<typeof ProgramAttachSchema>;

// bpftrace's first error line, without its file position.
function firstError(stderr: string): string | null {
  const line = stderr
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /ERROR/.test(l) && !/RLIMIT_MEMLOCK/.test(l));
  return line ? line.replace(/^\S+\.bt:[\d:-]+:\s*/, '').replace(/^ERROR:\s*/, '') : null;
}

// What a kernel that hides ftrace or forbids trampolines makes bpftrace say (0.17 and 0.23).
const KERNEL_REFUSED =
  /could not read traceable functions|kfunc\/kretfunc not available|Error attaching probe: '(kprobe|kfunc|kretfunc|fentry|fexit)|available_filter_functions/i;

// natscope's own program for `probes`, composed for this bpftrace, compiled
// and attached for real (as the tracer runs it), then stopped. Modules the
// probes hook must be loaded first (the tracer does that too).
export async function tryProgram(
  probes: ProbeFamily[],
  bpftrace: DetectedBpftrace,
  timeoutMs = 180_000,
): Promise<ProgramAttach> {
  const dir = await mkdtemp(join(tmpdir(), 'natscope-doctor-'));
  const file = join(dir, 'natscope.bt');
  const started = performance.now();
  try {
    await writeFile(file, await composeProgram(probes, bpftrace.version));
    const child = execa(bpftrace.binary, ['-f', 'json', file, detailBudgetArgument(DEFAULT_DETAIL_PER_SECOND)], {
      reject: false,
      detached: true,
      stdin: 'ignore',
      buffer: true,
      env: bpftraceEnv(bpftrace.features, { attachNotice: ATTACHED, perfPages: 64, mapKeys: 16384 }),
    });
    let attachedAt: number | null = null;
    const watch = (d: Buffer) => {
      if (attachedAt === null && String(d).includes(ATTACHED)) {
        attachedAt = performance.now();
        killGroup(child, 'SIGTERM');
      }
    };
    child.stdout?.on('data', watch);
    child.stderr?.on('data', watch);
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    const result = await child;
    clearTimeout(timer);
    if (attachedAt !== null) {
      const ms = Math.round(attachedAt - started);
      return {
        probes,
        ok: true,
        attachMs: ms,
        detail: `compiled and attached in ${(ms / 1000).toFixed(1)} s`,
        refusedByKernel: false,
        fix: null,
      };
    }
    const stderr = String(result.stderr);
    const crash = crashError(bpftrace, result.signal ?? undefined, result.exitCode ?? undefined);
    if (crash)
      return {
        probes,
        ok: false,
        attachMs: null,
        detail: crash.message,
        refusedByKernel: false,
        fix: crash.hint ?? null,
      };
    if (result.signal === 'SIGKILL')
      return {
        probes,
        ok: false,
        attachMs: null,
        detail: `did not attach within ${timeoutMs / 1000} s`,
        refusedByKernel: false,
        fix: 'a busy or emulated machine compiles slowly: run natscope doctor again',
      };
    const error = firstError(stderr) ?? `bpftrace exited with code ${result.exitCode}`;
    if (KERNEL_REFUSED.test(stderr))
      return {
        probes,
        ok: false,
        attachMs: null,
        detail: `the kernel refused its function probes: ${error}`,
        refusedByKernel: true,
        fix: 'this kernel cannot attach kernel function probes (lockdown, or ftrace hidden): natscope runs them in the micro-VM (--vm auto; natscope vm setup), and --probes drop runs here',
      };
    return {
      probes,
      ok: false,
      attachMs: null,
      detail: `bpftrace refused it: ${error}`,
      refusedByKernel: false,
      fix:
        bpftrace.support === 'tested'
          ? 'please report this line with the kernel (uname -r) and bpftrace --version'
          : `natscope is tested with bpftrace ${TESTED_VERSIONS.join(' and ')}: install one of those, or trace in the micro-VM (--vm on)`,
    };
  } catch (error) {
    return { probes, ok: false, attachMs: null, detail: describeError(error), refusedByKernel: false, fix: null };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// bpftrace's build: "LLVM: 19.1.7" in `bpftrace --info` (it also probes the kernel: seconds).
export async function bpftraceInfo(binary: string): Promise<string> {
  const result = await execa(binary, ['--info'], { reject: false, timeout: 60_000, stdin: 'ignore' }).catch(() => null);
  return result ? `${result.stdout}\n${result.stderr}` : '';
}
