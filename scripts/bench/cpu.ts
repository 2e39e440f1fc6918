// CPU time counters the benchmarks account costs with, in µs.
// /proc's clock ticks are USER_HZ (100 on Linux).

import { readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { z } from 'zod';
import { parseJsonAs } from '../../src/util/json.js';

const TICK_US = 10_000;

export function processCpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US; // utime, stime
}

// What this process (every thread of it) has used.
export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function machineBusyUs(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user! + nice! + system! + irq! + softirq!) * TICK_US;
}

// Runs a load and adds the machine's CPU time per connection it made: under
// the lab's load both cores are busy, so this is what one connection costs.
export async function withMachineCost<T extends { connections: number }>(
  load: () => Promise<T>,
): Promise<T & { busyUs: number }> {
  const busy0 = machineBusyUs();
  const r = await load();
  return { ...r, busyUs: (machineBusyUs() - busy0) / r.connections };
}

// The run time of the programs bpftrace `pid` loaded (bpftool names their
// owners; where it cannot, every program: the micro-VM and this project's
// hosts run no others). Needs the kernel's BPF run-time statistics on.
// What bpftool prints of each program (the fields used here).
const BpfProgramsSchema = z.array(
  z.looseObject({
    run_time_ns: z.number().min(0).optional(),
    pids: z.array(z.looseObject({ pid: z.int() })).optional(),
  }),
);

export async function bpfProgramsUs(pid: number): Promise<number> {
  const { stdout } = await execa('bpftool', ['prog', 'show', '--json']);
  const programs = parseJsonAs(
    BpfProgramsSchema,
    stdout,
    "bpftool's program list (bpftool prog show --json)",
    "check bpftool's version: natscope reads run_time_ns and pids of each program",
  );
  const known = programs.some((p) => p.pids !== undefined);
  const ours = known ? programs.filter((p) => p.pids?.some((o) => o.pid === pid)) : programs;
  return ours.reduce((sum, p) => sum + (p.run_time_ns ?? 0), 0) / 1000;
}

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

// Runs `f` with the BPF run-time statistics on, then restores the setting.
// (They add a little to every program run: costs come out slightly high.)
export async function withBpfStats<T>(f: () => Promise<T>): Promise<T> {
  const was = readFileSync(BPF_STATS, 'utf8').trim();
  writeFileSync(BPF_STATS, '1');
  try {
    return await f();
  } finally {
    writeFileSync(BPF_STATS, was);
  }
}
