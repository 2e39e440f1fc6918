// natscope doctor: what this machine can trace, each failing line with its
// fix. The verdict that counts is natscope's own program, composed for the
// bpftrace found here, compiled and attached for real.

import { release } from 'node:os';
import { z } from 'zod';
import { describeError, NatscopeError } from '../errors.js';
import type { LabBackend } from '../events/types.js';
import { DEFAULT_PREFIX } from '../lab/prefix.js';
import { bpftraceBinary, loadModules } from '../tracer/bpftrace.js';
import {
  bpftraceInfo,
  btfPresent,
  functionProbesAttach,
  iptablesBackend,
  kprobesAttach,
  kprobesConfigured,
  lockdownMode,
  type ProgramAttach,
  ProgramAttachSchema,
  tracefsMounted,
  tracepointsAttach,
  tryProgram,
} from '../tracer/capabilities.js';
import { DEFAULT_PROBES } from '../tracer/probes.js';
import {
  type DetectedBpftrace,
  detectBpftrace,
  formatVersion,
  NEWEST_KNOWN,
  OLDEST_SUPPORTED,
  parseLlvmVersion,
  SUPPORT_LEVELS,
  type Support,
  TESTED_VERSIONS,
} from '../tracer/version.js';
import { type Check, CheckSchema } from '../util/check.js';
import { onPath, vmPrerequisites } from '../vm/prereqs.js';
import { existsSync } from 'node:fs';
import { functionListReadable } from '../tracer/capabilities.js';

// What `natscope doctor --json` prints.
export const DoctorReportSchema = z.object({
  kernel: z.string(),
  // the bpftrace found (null: none, or one natscope refuses)
  bpftrace: z
    .object({
      binary: z.string(),
      version: z.string(),
      llvm: z.string().nullable(),
      support: z.enum(SUPPORT_LEVELS),
      tested: z.boolean(),
    })
    .nullable(),
  // natscope's default program, compiled and attached here (null: not tried)
  program: ProgramAttachSchema.nullable(),
  checks: z.array(CheckSchema),
  // where `--vm auto` will run the kernel side
  tracing: z.object({ native: z.boolean(), tracepointsOnly: z.boolean(), microVm: z.boolean() }),
});
export type DoctorReport = z.infer<typeof DoctorReportSchema>;

export async function diagnose(): Promise<DoctorReport> {
  const checks: Check[] = [];
  const root = process.getuid?.() === 0;
  checks.push({
    name: 'root',
    ok: root,
    detail: root ? 'running as root' : 'not root',
    fix: 'run with sudo',
    required: true,
  });

  const binary = bpftraceBinary();
  const { check, bpftrace, llvm, version } = await bpftraceCheck(binary);
  checks.push(check);
  checks.push(...(await kernelChecks(root)));
  const canTry = root && bpftrace !== null;
  const attach = await attachChecks(canTry);
  checks.push(...attach.checks);
  const { kfunc, tracepoints } = attach;
  const tried = await programChecks(bpftrace, canTry, kfunc.ok);
  checks.push(...tried.checks);
  const program = tried.program;
  checks.push(...(await toolChecks()));

  const vm = await vmPrerequisites();
  for (const c of vm.checks) checks.push({ ...c, required: false });

  return {
    kernel: release(),
    bpftrace:
      bpftrace && version
        ? { binary, version, llvm, support: bpftrace.support, tested: bpftrace.support === 'tested' }
        : null,
    program,
    checks,
    tracing: {
      native: kfunc.ok && program?.ok === true,
      tracepointsOnly: !kfunc.ok && tracepoints.ok,
      microVm: vm.ready,
    },
  };
}

// Which bpftrace runs here, and whether natscope takes it.
async function bpftraceCheck(binary: string): Promise<{
  check: Check;
  bpftrace: DetectedBpftrace | null;
  llvm: string | null;
  version: string | null;
}> {
  let bpftrace: DetectedBpftrace | null = null;
  let refused: unknown = null;
  try {
    bpftrace = await detectBpftrace(binary);
  } catch (error) {
    refused = error;
  }
  const llvm = bpftrace ? parseLlvmVersion(await bpftraceInfo(binary)) : null;
  const version = bpftrace ? formatVersion(bpftrace.version) : null;
  const check: Check = {
    name: 'bpftrace',
    ok: bpftrace !== null,
    detail: bpftrace
      ? `bpftrace ${version} (LLVM ${llvm ?? 'unknown'}), ${onPath(binary) ?? binary}: ${supportText(bpftrace.support)}`
      : describeError(refused),
    fix:
      refused instanceof NatscopeError && refused.hint
        ? refused.hint
        : 'apt-get install bpftrace (npm run setup installs it)',
    required: true,
  };
  return { check, bpftrace, llvm, version };
}

// What the kernel offers tracing: BTF, tracefs, the function list, lockdown, kprobes.
async function kernelChecks(root: boolean): Promise<Check[]> {
  const checks: Check[] = [];
  const btf = btfPresent();
  checks.push({
    name: 'btf',
    ok: btf,
    detail: btf ? '/sys/kernel/btf/vmlinux present' : 'no /sys/kernel/btf/vmlinux',
    fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian/Ubuntu kernels are)',
    required: true,
  });

  const tracefs = tracefsMounted();
  checks.push({
    name: 'tracefs',
    ok: tracefs,
    detail: tracefs ? 'mounted' : 'not mounted',
    fix: 'mount -t tracefs nodev /sys/kernel/tracing (natscope trace does this)',
    required: false,
  });

  const functions = await functionListReadable();
  checks.push({
    name: 'ftrace',
    ok: functions.ok,
    detail: functions.ok
      ? 'the traceable function list is readable'
      : `available_filter_functions: ${functions.detail}`,
    fix: 'kernel function probes need it; a kernel or sandbox that hides it leaves tracepoints only: the micro-VM runs the rest',
    required: false,
  });

  const lockdown = root ? await lockdownMode() : null;
  checks.push({
    name: 'lockdown',
    ok: lockdown === null || lockdown === 'none' || lockdown === 'integrity',
    detail: lockdown === null ? 'unknown (no securityfs, or not root)' : `lockdown=${lockdown}`,
    fix: 'lockdown=confidentiality forbids kernel function probes: boot without it, or use the micro-VM (--vm on)',
    required: false,
  });

  const configured = await kprobesConfigured();
  checks.push({
    name: 'kprobes-config',
    ok: configured !== false,
    detail:
      configured === null
        ? 'kernel config not readable'
        : configured
          ? 'CONFIG_KPROBES=y'
          : 'CONFIG_KPROBES is not set',
    fix: "natscope's probes use kfunc, not kprobes; shown for comparison",
    required: false,
  });
  return checks;
}

// Which kinds of probe attach here (tried only as root, with a bpftrace natscope takes).
async function attachChecks(canTry: boolean): Promise<{
  checks: Check[];
  kfunc: { ok: boolean; detail: string };
  tracepoints: { ok: boolean; detail: string };
}> {
  const checks: Check[] = [];
  const notTried = { ok: false, detail: 'not tried (needs root and bpftrace)' };
  const kfunc = canTry ? await functionProbesAttach() : notTried;
  checks.push({
    name: 'kfunc',
    ok: kfunc.ok,
    detail: kfunc.ok
      ? 'a kfunc (fentry) attached: the nat, conntrack and rewrite probes run here'
      : `cannot attach: ${kfunc.detail}`,
    fix: 'natscope runs the nat/conntrack probes in the micro-VM instead (--vm auto); or trace drops only: --probes drop',
    required: false,
  });
  const kprobes = canTry ? await kprobesAttach() : notTried;
  checks.push({
    name: 'kprobes',
    ok: kprobes.ok,
    detail: kprobes.ok ? 'a kprobe attached' : `cannot attach: ${kprobes.detail}`,
    fix: "kprobes are not used by natscope's probes (kfunc is); shown for comparison",
    required: false,
  });

  const tracepoints = canTry ? await tracepointsAttach() : { ok: false, detail: 'not tried (needs root and bpftrace)' };
  checks.push({
    name: 'tracepoints',
    ok: tracepoints.ok,
    detail: tracepoints.ok
      ? 'tracepoint:skb:kfree_skb attached (the drop probe runs here)'
      : `cannot attach: ${tracepoints.detail}`,
    fix: 'mount tracefs and run as root',
    required: true,
  });
  return { checks, kfunc, tracepoints };
}

// natscope's own program: what `natscope trace` compiles and attaches.
async function programChecks(
  bpftrace: DetectedBpftrace | null,
  canTry: boolean,
  kfuncAttaches: boolean,
): Promise<{ checks: Check[]; program: ProgramAttach | null }> {
  const checks: Check[] = [];
  let program: ProgramAttach | null = null;
  if (canTry && bpftrace) {
    // the tracer loads the modules its probes hook first; pointless where function probes are refused
    if (kfuncAttaches) await loadModules(DEFAULT_PROBES).catch(() => undefined);
    program = await tryProgram(DEFAULT_PROBES, bpftrace);
    checks.push(programCheck('program', program, !program.refusedByKernel));
    if (!program.ok && program.refusedByKernel) {
      // what still runs here: the drop probe needs only a tracepoint
      checks.push(programCheck('program-drop', await tryProgram(['drop'], bpftrace), true));
    }
  } else {
    checks.push({
      name: 'program',
      ok: false,
      detail: "natscope's program: not tried (needs root and a bpftrace natscope supports)",
      fix: 'run natscope doctor with sudo, after fixing the bpftrace line',
      required: false,
    });
  }
  return { checks, program };
}

// The tools the lab runs.
async function toolChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  const backend = await iptablesBackend();
  checks.push({
    name: 'iptables',
    ok: backend !== 'unknown',
    detail: backend === 'unknown' ? 'iptables not found' : `iptables backend: ${backend}`,
    fix: 'apt-get install iptables',
    required: true,
  });

  for (const tool of ['ip', 'conntrack']) {
    const found = onPath(tool) ?? (existsSync(`/usr/sbin/${tool}`) ? `/usr/sbin/${tool}` : null);
    checks.push({
      name: tool,
      ok: found !== null,
      detail: found ?? 'not found',
      fix: `apt-get install ${tool === 'ip' ? 'iproute2' : 'conntrack'}`,
      required: true,
    });
  }
  return checks;
}

function supportText(support: Support): string {
  const tested = TESTED_VERSIONS.join(' and ');
  switch (support) {
    case 'tested':
      return 'a version natscope is tested with';
    case 'supported':
      return `in the supported range (${formatVersion(OLDEST_SUPPORTED)} to ${NEWEST_KNOWN.major}.${NEWEST_KNOWN.minor}), not itself tested (tested: ${tested})`;
    default:
      return `newer than natscope knows (${NEWEST_KNOWN.major}.${NEWEST_KNOWN.minor}): tried as is (tested: ${tested})`;
  }
}

function programCheck(name: string, p: ProgramAttach, required: boolean): Check {
  return {
    name,
    ok: p.ok,
    detail: `natscope's program (${p.probes.join(',')}): ${p.detail}`,
    fix: p.fix ?? undefined,
    required,
  };
}

export async function doctor(options: { json: boolean; lab?: LabBackend; prefix?: string }): Promise<number> {
  // the kind lab's preflight is its own report (src/lab/kind/preflight.ts)
  if (options.lab === 'kind') {
    const { kindDoctor } = await import('../lab/kind/preflight.js');
    return kindDoctor({ json: options.json, prefix: options.prefix ?? DEFAULT_PREFIX });
  }
  const report = await diagnose();
  const failed = report.checks.filter((c) => c.required && !c.ok);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`natscope doctor: kernel ${report.kernel}\n`);
    for (const c of report.checks) {
      const mark = c.ok ? '✓' : c.required ? '✗' : '!';
      process.stdout.write(`  ${mark} ${c.name.padEnd(15)} ${c.detail}\n`);
      if (!c.ok && c.fix) process.stdout.write(`    ${''.padEnd(15)} fix: ${c.fix}\n`);
    }
    const t = report.tracing;
    const where = t.native
      ? 'natively (kernel function probes attach here)'
      : t.microVm
        ? `in the micro-VM (kernel function probes cannot attach here${t.tracepointsOnly ? '; --probes drop also runs natively' : ''})`
        : t.tracepointsOnly
          ? 'drops only (--probes drop): kernel function probes cannot attach and the micro-VM is not set up (natscope vm setup)'
          : 'nowhere yet: fix the lines marked ✗';
    process.stdout.write(`\nnatscope trace will run ${where}.\n`);
  }
  return failed.length === 0 ? 0 : 1;
}
