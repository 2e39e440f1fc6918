// natscope doctor inside the micro-VM, on each stack (test/vm/stacks.ts):
// there the kernel allows function probes, so its verdict from compiling
// and attaching natscope's own program must be a pass, naming the stack's
// bpftrace and LLVM as a tested version.

import { describe, expect, test } from 'vitest';
import { DoctorReportSchema } from '../../src/commands/doctor.js';
import { CLI, jsonOutput, natscope } from '../cli.js';
import { EXPECT, STACK_LABEL } from '../vm/stacks.js';

describe(`natscope doctor in the micro-VM (${STACK_LABEL})`, () => {
  test("compiles and attaches natscope's own program there, with a tested bpftrace", async () => {
    // `node` is the guest's: this host's on debian12, Debian 13's own on debian13
    const r = await natscope(['vm', 'run', '-q', '--timeout', '400', '--', 'node', CLI, 'doctor', '--json'], {
      timeout: 600_000,
    });
    // the whole stderr as the message: a micro-VM failure's console tail says why
    expect(r.stderr, String(r.stderr)).not.toMatch(/^natscope: /m);
    const report = jsonOutput(DoctorReportSchema, r.stdout);
    expect(report.kernel).toMatch(EXPECT.kernel);
    expect(report.bpftrace).toMatchObject({ version: EXPECT.bpftrace, support: 'tested', tested: true });
    expect(report.bpftrace?.llvm).toMatch(EXPECT.llvm);
    expect(report.program).toMatchObject({ probes: ['nat', 'conntrack', 'drop'], ok: true });
    expect(report.program?.attachMs).toBeGreaterThan(0);
    const check = (name: string) => report.checks.find((c) => c.name === name);
    expect(check('kfunc')?.ok).toBe(true);
    expect(check('program')).toMatchObject({ ok: true, required: true });
    expect(report.tracing.native).toBe(true);
    expect(r.exitCode).toBe(0);
  });
});
