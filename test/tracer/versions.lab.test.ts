// A bpftrace natscope cannot use, met through the CLI as a user would (root:
// natscope trace and doctor run natively here with a fake bpftrace in
// bpftrace's place): one line saying what is wrong, a fix line, a non-zero
// exit, and nothing left running or lying about.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { DoctorReportSchema } from '../../src/commands/doctor.js';
import { isRunning } from '../../src/util/process.js';
import { jsonOutput, natscope } from '../cli.js';
import { FIXTURES } from '../helpers.js';

const FAKE = join(FIXTURES, 'bin', 'fake-bpftrace');
const dir = mkdtempSync(join(tmpdir(), 'natscope-bad-bpftrace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// natscope's own temporary folders for a trace or a doctor run
const leftovers = () => readdirSync(tmpdir()).filter((d) => /^natscope-(trace|doctor)-/.test(d));

function fake(name: string, mode: string, version: string) {
  const log = join(dir, `${name}.log`);
  return {
    log,
    env: {
      NATSCOPE_BPFTRACE: FAKE,
      FAKE_BPFTRACE_MODE: mode,
      FAKE_BPFTRACE_VERSION: version,
      FAKE_BPFTRACE_LOG: log,
      FAKE_BPFTRACE_OUTPUT: join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl'),
    },
  };
}

const trace = (env: Record<string, string>) =>
  natscope(['trace', '--probes', 'drop', '--all-netns', '--duration', '5'], { env, timeout: 60_000 });

describe('natscope with a bpftrace it cannot use', () => {
  test('older than 0.17: one line and its fix, exit 1, bpftrace never given a program', async () => {
    const before = leftovers();
    const { env, log } = fake('old', 'ok', 'bpftrace v0.16.0');
    const r = await trace(env);
    expect(r.exitCode).toBe(1);
    expect(
      String(r.stderr)
        .split('\n')
        .filter((l) => /^(natscope:| {2}fix:)/.test(l)),
    ).toEqual([
      'natscope: bpftrace 0.16.0 is older than 0.17.0, the oldest natscope supports',
      '  fix: install bpftrace 0.17 or newer (Debian 12 and Ubuntu 24.04 ship one), or use the micro-VM: --vm on',
    ]);
    expect(() => readFileSync(`${log}.pid`)).toThrow();
    expect(leftovers()).toEqual(before);
  });

  test('crashing while it compiles (SIGSEGV): named as a crash with its fix, exit 1, nothing left running', async () => {
    const before = leftovers();
    const { env, log } = fake('crash', 'segfault', 'bpftrace v0.23.2');
    const r = await trace(env);
    expect(r.exitCode).toBe(1);
    const lines = String(r.stderr)
      .split('\n')
      .filter((l) => /^(natscope:| {2}fix:)/.test(l));
    expect(lines[0]).toBe("natscope: bpftrace 0.23.2 crashed (SIGSEGV) while compiling or attaching natscope's probes");
    expect(lines[1]).toMatch(/^ {2}fix: run "natscope doctor" .* 0\.17\.0 and 0\.23\.2/);
    expect(lines).toHaveLength(2);
    expect(isRunning(Number(readFileSync(`${log}.pid`, 'utf8')))).toBe(false);
    expect(leftovers()).toEqual(before);
  });

  test("doctor says so on its bpftrace line and on natscope's program, with the fixes, and fails", async () => {
    const before = leftovers();
    const old = await natscope(['doctor', '--json'], { env: fake('doctor-old', 'ok', 'bpftrace v0.16.0').env });
    const oldReport = jsonOutput(DoctorReportSchema, old.stdout);
    expect(oldReport.checks.find((c) => c.name === 'bpftrace')).toMatchObject({
      ok: false,
      required: true,
      detail: 'bpftrace 0.16.0 is older than 0.17.0, the oldest natscope supports',
      fix: expect.stringContaining('install bpftrace 0.17 or newer'),
    });
    expect(old.exitCode).toBe(1);

    const crash = await natscope(['doctor', '--json'], {
      env: fake('doctor-crash', 'segfault', 'bpftrace v0.23.2').env,
    });
    const report = jsonOutput(DoctorReportSchema, crash.stdout);
    expect(report.bpftrace).toMatchObject({ version: '0.23.2', support: 'tested' });
    expect(report.program).toMatchObject({
      ok: false,
      refusedByKernel: false,
      detail: "bpftrace 0.23.2 crashed (SIGSEGV) while compiling or attaching natscope's probes",
    });
    expect(report.checks.find((c) => c.name === 'program')).toMatchObject({ ok: false, required: true });
    expect(crash.exitCode).toBe(1);
    expect(leftovers()).toEqual(before);
  });
});
