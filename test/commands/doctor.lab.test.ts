// natscope doctor tells the truth about this machine: its kprobe and
// lockdown verdicts are checked against independent evidence.

import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { DoctorReportSchema } from '../../src/commands/doctor.js';
import { jsonOutput, natscope } from '../cli.js';

describe('natscope doctor', () => {
  test('its kfunc, kprobe and tracepoint verdicts match what the kernel offers', async () => {
    const r = await natscope(['doctor', '--json']);
    const report = jsonOutput(DoctorReportSchema, r.stdout);
    const check = (name: string) => report.checks.find((c) => c.name === name)!;
    // independent evidence: lockdown as securityfs reports it, and whether the kprobe interface exists
    const lock = await execa(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        'mount -t securityfs none /sys/kernel/security 2>/dev/null; cat /sys/kernel/security/lockdown',
      ],
      { reject: false },
    );
    const mode = /\[(\w+)\]/.exec(String(lock.stdout))?.[1] ?? 'none';
    const kprobeInterface =
      existsSync('/sys/kernel/tracing/kprobe_events') || existsSync('/sys/kernel/debug/tracing/kprobe_events');
    const kprobesPossible = kprobeInterface && mode !== 'confidentiality';
    // kfunc needs BTF, ftrace direct calls (the trampolines), a tracing interface bpftrace may
    // read (available_filter_functions), and no lockdown=confidentiality
    const config = (() => {
      try {
        return gunzipSync(readFileSync('/proc/config.gz')).toString();
      } catch {
        return '';
      }
    })();
    const readable = (path: string) => {
      try {
        readFileSync(path);
        return true;
      } catch {
        return false;
      }
    };
    const kfuncPossible =
      existsSync('/sys/kernel/btf/vmlinux') &&
      (config === '' || /^CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS=y/m.test(config)) &&
      (readable('/sys/kernel/tracing/available_filter_functions') ||
        readable('/sys/kernel/debug/tracing/available_filter_functions')) &&
      mode !== 'confidentiality';
    expect(check('kprobes').ok).toBe(kprobesPossible);
    expect(check('kfunc').ok).toBe(kfuncPossible);
    expect(check('lockdown').detail).toBe(`lockdown=${mode}`);
    expect(check('tracepoints').ok).toBe(true);
    expect(report.tracing.native).toBe(kfuncPossible);
    if (!kfuncPossible) expect(check('kfunc').fix).toMatch(/micro-VM/);
    // natscope's own program, compiled and attached: where function probes are refused it says so,
    // points at the micro-VM, and shows that the drop probe alone runs here
    expect(report.program?.probes).toEqual(['nat', 'conntrack', 'drop']);
    expect(report.program?.ok).toBe(kfuncPossible);
    if (!kfuncPossible) {
      expect(report.program).toMatchObject({ refusedByKernel: true });
      expect(check('program')).toMatchObject({
        required: false,
        detail: expect.stringMatching(
          /^natscope's program \(nat,conntrack,drop\): the kernel refused its function probes: /,
        ),
        fix: expect.stringMatching(/micro-VM/),
      });
      expect(check('program-drop')).toMatchObject({
        ok: true,
        detail: expect.stringMatching(/compiled and attached in/),
      });
    }
    expect(report.bpftrace).toMatchObject({ support: 'tested', llvm: expect.stringMatching(/^\d+\./) });
    expect(check('root').ok).toBe(true);
    expect(r.exitCode).toBe(0);
  });

  test('the human report ends with where tracing will run', async () => {
    const r = await natscope(['doctor']);
    expect(r.stdout).toMatch(/natscope trace will run (natively|in the micro-VM|drops only)/);
  });
});
