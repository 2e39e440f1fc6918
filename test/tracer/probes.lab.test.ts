// Every probe file this kernel can run compiles with this machine's bpftrace
// (--emit-elf: parse, type check against BTF, codegen; no attach), alone and
// composed for this bpftrace's version. Where kernel function probes are
// refused (lockdown), the kfunc probes are compiled and attached in the
// micro-VM instead (the end-to-end test and doctor there, on each stack).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { functionProbesAttach } from '../../src/tracer/capabilities.js';
import { PROBES, composeProgram } from '../../src/tracer/probes.js';
import { compileOnlyArgs, detectBpftrace } from '../../src/tracer/version.js';
import { probesDir } from '../../src/util/paths.js';
import { testTempDir } from '../helpers.js';

const kfunc = await functionProbesAttach();
const bpftrace = await detectBpftrace('bpftrace');
const dir = testTempDir('natscope-compose-');

describe('probe files compile with bpftrace here', () => {
  test.each(Object.values(PROBES).filter((p) => p.needs === 'tracepoint' || kfunc.ok))('$file', async (probe) => {
    const elf = join(dir, `${probe.name}.o`);
    const r = await execa('bpftrace', [...compileOnlyArgs(elf), join(probesDir(), probe.file)], {
      reject: false,
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/^.*: ERROR:/m);
    expect(r.exitCode).toBe(0);
  });

  test('the drop probe alone, composed for this bpftrace, compiles', async () => {
    const file = join(dir, 'drop.bt');
    writeFileSync(file, await composeProgram(['drop'], bpftrace.version));
    const r = await execa('bpftrace', [...compileOnlyArgs(join(dir, 'drop.o')), file], {
      reject: false,
      timeout: 120_000,
    });
    expect(r.stderr).not.toMatch(/ERROR: (?!.*RLIMIT_MEMLOCK)/);
    expect(r.exitCode).toBe(0);
  });

  test.runIf(kfunc.ok)('the composed program of all four compiles', async () => {
    const file = join(dir, 'all.bt');
    writeFileSync(file, await composeProgram(['nat', 'conntrack', 'drop', 'rewrite'], bpftrace.version));
    const r = await execa('bpftrace', [...compileOnlyArgs(join(dir, 'all.o')), file], {
      reject: false,
      timeout: 120_000,
    });
    expect(r.exitCode).toBe(0);
  });
});
