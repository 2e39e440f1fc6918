// natscope trace in the micro-VM (kernel function probes are locked down on
// the build machines): a Ctrl-C while the VM boots, or while bpftrace
// compiles and attaches in it, stops everything at once and leaves nothing.

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { CLI } from '../cli.js';

const dir = mkdtempSync(join(tmpdir(), 'natscope-trace-vm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('natscope trace --vm on', () => {
  // moments of start-up, named by the progress line they follow
  test.each([
    ['the VM boots', /booting the micro-VM/],
    ['the lab comes up in it', /vm: namespaces/],
    ['bpftrace attaches in it', /vm: attaching probes/],
  ])('Ctrl-C while %s: exit 130 at once, no qemu and no run folder left', async (_, moment) => {
    const tmp = mkdtempSync(join(dir, 'run-'));
    const trace = execa(process.execPath, [CLI, 'trace', '--vm', 'on', '--prefix', 'natscope-ctrlc-'], {
      reject: false,
      env: { TMPDIR: tmp },
    });
    let seen = '';
    trace.stderr?.on('data', (d: Buffer) => {
      seen += d.toString();
    });
    for (let i = 0; i < 1800 && !moment.test(seen); i++) await new Promise((r) => setTimeout(r, 100));
    expect(seen).toMatch(moment);
    const sent = performance.now();
    trace.kill('SIGINT');
    const r = await trace;
    const ms = Math.round(performance.now() - sent);
    process.stderr.write(`  Ctrl-C while ${String(moment)} (micro-VM): stopped after ${ms} ms\n`);
    expect(r.exitCode).toBe(130);
    expect(ms).toBeLessThan(3000);
    expect(readdirSync(tmp)).toEqual([]);
    expect((await execa('pgrep', ['-f', tmp], { reject: false })).stdout).toBe('');
  });
});
