// The probe families natscope ships (probes/*.bt), what each needs from
// the kernel, and how several are joined into one bpftrace program (one
// compile and attach instead of one per family: attaching takes seconds).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NatscopeError } from '../errors.js';
import { probesDir } from '../util/paths.js';
import { FLUSH_MARKER, FLUSH_TICK_MS, type ProbeFamily, STREAMS, type StreamName } from './streams.js';
import { type BpftraceVersion, formatVersion } from './version.js';

export interface ProbeInfo {
  name: ProbeFamily;
  file: string;
  // kernel function probes (kfunc/fentry: BTF trampolines) need no lockdown; tracepoints work nearly everywhere
  needs: 'kfunc' | 'tracepoint';
  // kernel modules whose functions the probe hooks: they must be loaded first
  modules: string[];
  // the event streams its programs write (their maps: STREAMS; docs: the probe's header)
  streams: StreamName[];
  byDefault: boolean;
  summary: string;
}

export const PROBES: Record<ProbeFamily, ProbeInfo> = {
  nat: {
    name: 'nat',
    file: 'nat.bt',
    needs: 'kfunc',
    modules: ['nf_nat'],
    streams: ['nat'],
    byDefault: true,
    summary: 'NAT bindings (nf_nat_setup_info): DNAT and SNAT as they are set up',
  },
  conntrack: {
    name: 'conntrack',
    file: 'conntrack.bt',
    needs: 'kfunc',
    modules: ['nf_conntrack'],
    streams: ['ct-new', 'ct-destroy'],
    byDefault: true,
    summary: 'conntrack entries confirmed and deleted, with status bits',
  },
  drop: {
    name: 'drop',
    file: 'drop.bt',
    needs: 'tracepoint',
    modules: [],
    streams: ['drop'],
    byDefault: true,
    summary: 'dropped IPv4 packets (skb:kfree_skb) with reason, location, 5-tuple, TCP flags',
  },
  rewrite: {
    name: 'rewrite',
    file: 'rewrite.bt',
    needs: 'kfunc',
    modules: ['nf_nat'],
    streams: ['rewrite'],
    byDefault: false,
    summary: 'every packet NAT rewrites, before and after (per packet: costly)',
  },
};

export const DEFAULT_PROBES: ProbeFamily[] = (Object.keys(PROBES) as ProbeFamily[]).filter((p) => PROBES[p].byDefault);

export function parseProbeList(text: string): ProbeFamily[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new NatscopeError('--probes is empty', {
      hint: `use some of: ${Object.keys(PROBES).join(',')}`,
      exitCode: 2,
    });
  for (const name of names) {
    if (!(name in PROBES)) {
      throw new NatscopeError(`unknown probe "${name}"`, {
        hint: `known probes: ${Object.keys(PROBES).join(', ')} (e.g. --probes nat,conntrack,drop)`,
        exitCode: 2,
      });
    }
  }
  return [...new Set(names)] as ProbeFamily[];
}

export function needsFunctionProbes(probes: ProbeFamily[]): boolean {
  return probes.some((p) => PROBES[p].needs === 'kfunc');
}

// A probe file's BEGIN block and flush are for running it alone; the joined
// program has one of each of its own.
const BEGIN_BLOCK = /^BEGIN\s*\n\{[\s\S]*?\n\}\n/m;
const FLUSH_BLOCK = /^\/\*\n \* flush:[\s\S]*?\*\/\ninterval:ms:\d+\n\{[\s\S]*?\n\}\n/m;

// A module with its own BTF (/sys/kernel/btf/<module>) is named in kfunc
// attach points (kfunc:nf_nat:…): newer bpftrace looks a module's functions
// up only then. Built into the kernel, the function is found in vmlinux.
export function qualifyModules(
  text: string,
  modules: string[],
  hasModuleBtf = (m: string) => existsSync(`/sys/kernel/btf/${m}`),
): string {
  let out = text;
  for (const m of modules) {
    if (!hasModuleBtf(m)) continue;
    out = out.replace(/^(kfunc|kretfunc):(?!\w+:)(\w+)/gm, `$1:${m}:$2`);
  }
  return out;
}

// The program for the bpftrace that will run it (`version`: what
// `bpftrace --version` said). The probe files are written for every
// supported version (src/tracer/version.ts); what differs is settled here.
// `hasModuleBtf` says which modules have BTF of their own on the kernel
// that will run it (this one, unless it runs elsewhere: a cluster node).
export async function composeProgram(
  probes: ProbeFamily[],
  version: BpftraceVersion,
  dir = probesDir(),
  hasModuleBtf?: (module: string) => boolean,
): Promise<string> {
  const parts: string[] = [
    `// Composed by natscope from probes/*.bt for bpftrace ${formatVersion(version)}: one program, one attach.`,
    'BEGIN',
    '{',
    `\tprintf("natscope: tracing ${probes.join(',')}. Hit Ctrl-C to end.\\n");`,
    // the flush's state is read before any flush has written it
    '\t@batch = 0;',
    '\t@pending_a = 0;',
    '\t@pending_b = 0;',
    '\t@handed = 0;',
    '}',
    '',
  ];
  for (const name of probes) {
    const text = await readFile(join(dir, PROBES[name].file), 'utf8');
    if (!BEGIN_BLOCK.test(text)) throw new Error(`${PROBES[name].file}: no BEGIN block where expected`);
    if (!FLUSH_BLOCK.test(text)) throw new Error(`${PROBES[name].file}: no flush block where expected`);
    const body = text.replace(BEGIN_BLOCK, '').replace(FLUSH_BLOCK, '');
    parts.push(`// ---- ${PROBES[name].file}`, qualifyModules(body, PROBES[name].modules, hasModuleBtf));
  }
  parts.push(...flushBlock(probes.flatMap((p) => PROBES[p].streams)));
  return parts.join('\n');
}

// The joint flush (see probes/nat.bt, "Output"), for every probe at once,
// in two ticks. One hands the filling buffers over: @batch switches the
// probes to the other side (unless that side is not printed and cleared yet:
// bpftrace is behind, keep filling). The next prints and clears the side
// handed over. A probe that read @batch just before the switch may still
// be writing to the old side (a vCPU the host has descheduled, for
// instance); printing a tick later, not at once, keeps its event from
// being cleared unprinted: it has FLUSH_TICK_MS to finish, not the moment
// bpftrace takes to read the print request. The marker after the prints
// ends the flush and carries its times (see FLUSH_MARKER); written ten
// times a second, it also ends bpftrace (SIGPIPE) soon after natscope dies
// without stopping it.
function flushBlock(streams: StreamName[]): string[] {
  const pending = (side: 0 | 1): string => `@pending_${side === 0 ? 'a' : 'b'}`;
  // hand the filling side over; the probes write the other. The time is
  // read before the switch: a probe reads @batch before its event's time,
  // so every event on the other side happened after it.
  const handOver = (full: 0 | 1): string[] => [
    '@handed_at = nsecs;',
    `@batch = ${1 - full};`,
    `${pending(full)} = 1;`,
    `@handed = ${full + 1};`,
  ];
  // print and clear the side handed over at the last tick
  const drain = (full: 0 | 1): string[] => [
    ...streams.map((s) => `print(${STREAMS[s].buffers[full]}); clear(${STREAMS[s].buffers[full]});`),
    ...streams.map((s) => `print(${STREAMS[s].counts[full]}); clear(${STREAMS[s].counts[full]});`),
    ...[...new Set(streams.map((s) => STREAMS[s].budgets[full]))].map((b) => `clear(${b});`),
    `clear(${pending(full)});`,
    // this tick's time, then the hand-over's: every later flush holds only events after the hand-over (FlushAssembler's `onThrough`)
    `printf("${FLUSH_MARKER} %llu %llu\\n", nsecs, @handed_at);`,
    '@handed = 0;',
  ];
  const indent = (depth: number, lines: string[]) => lines.map((l) => '\t'.repeat(depth) + l);
  return [
    `interval:ms:${FLUSH_TICK_MS}`,
    '{',
    '\tif (@handed == 1) {',
    ...indent(2, drain(0)),
    '\t} else if (@handed == 2) {',
    ...indent(2, drain(1)),
    '\t} else if (@batch == 0) {',
    '\t\tif (@pending_b == 0) {',
    ...indent(3, handOver(0)),
    '\t\t}',
    '\t} else if (@pending_a == 0) {',
    ...indent(2, handOver(1)),
    '\t}',
    '}',
    '',
  ];
}
