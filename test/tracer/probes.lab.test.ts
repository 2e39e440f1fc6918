// Every probe file this kernel can run compiles with this machine's bpftrace
// (-d: parse, type check against BTF, codegen; no attach). Where kernel
// function probes are refused (lockdown), the kfunc probes are compiled and
// attached by the micro-VM's end-to-end test instead.

import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { PROBES, composeProgram } from '../../src/tracer/probes.js';
import { functionProbesAttach } from '../../src/tracer/capabilities.js';
import { probesDir } from '../../src/util/paths.js';
import { writeFileSync } from 'node:fs';
import { tempDirForTest } from '../helpers.js';

const kfunc = await functionProbesAttach();

describe('probe files compile with bpftrace here', () => {
  test.each(Object.values(PROBES).filter((p) => p.needs === 'tracepoint' || kfunc.ok))('$file', async (probe) => {
    const r = await execa('bpftrace', ['-d', join(probesDir(), probe.file)], { reject: false, timeout: 120_000 });
    expect(r.stderr).not.toMatch(/^.*: ERROR:/m);
    expect(r.exitCode).toBe(0);
  });

  test.runIf(kfunc.ok)('the composed program of all four compiles', async () => {
    const dir = tempDirForTest('natscope-compose-');
    const file = join(dir, 'all.bt');
    writeFileSync(file, await composeProgram(['nat', 'conntrack', 'drop', 'rewrite']));
    const r = await execa('bpftrace', ['-d', file], { reject: false, timeout: 120_000 });
    expect(r.exitCode).toBe(0);
  });
});
