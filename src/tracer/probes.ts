// The probe families natscope ships (probes/*.bt), what each needs from
// the kernel, and how several are joined into one bpftrace program (one
// compile and attach instead of one per family: attaching takes seconds).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NatscopeError } from '../errors.js';
import { probesDir } from '../util/paths.js';
import type { ProbeFamily } from './parse.js';

export interface ProbeInfo {
  name: ProbeFamily;
  file: string;
  // kernel function probes (kfunc/fentry: BTF trampolines) need no lockdown; tracepoints work nearly everywhere
  needs: 'kfunc' | 'tracepoint';
  // kernel modules whose functions the probe hooks: they must be loaded first
  modules: string[];
  // the maps its programs number their lines in (docs: the probe's header)
  sequenceMaps: string[];
  byDefault: boolean;
  summary: string;
}

export const PROBES: Record<ProbeFamily, ProbeInfo> = {
  nat: {
    name: 'nat',
    file: 'nat.bt',
    needs: 'kfunc',
    modules: ['nf_nat'],
    sequenceMaps: ['@nat_seq'],
    byDefault: true,
    summary: 'NAT bindings (nf_nat_setup_info): DNAT and SNAT as they are set up',
  },
  conntrack: {
    name: 'conntrack',
    file: 'conntrack.bt',
    needs: 'kfunc',
    modules: ['nf_conntrack'],
    sequenceMaps: ['@ctn_seq', '@ctd_seq'],
    byDefault: true,
    summary: 'conntrack entries confirmed and deleted, with status bits',
  },
  drop: {
    name: 'drop',
    file: 'drop.bt',
    needs: 'tracepoint',
    modules: [],
    sequenceMaps: ['@drop_seq'],
    byDefault: true,
    summary: 'dropped IPv4 packets (skb:kfree_skb) with reason, location, 5-tuple, TCP flags',
  },
  rewrite: {
    name: 'rewrite',
    file: 'rewrite.bt',
    needs: 'kfunc',
    modules: ['nf_nat'],
    sequenceMaps: ['@rw_seq'],
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
  if (names.length === 0) throw new NatscopeError('--probes is empty', { hint: `use some of: ${Object.keys(PROBES).join(',')}`, exitCode: 2 });
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

// A probe file's BEGIN block is for running it alone; the joined program has one of its own.
const BEGIN_BLOCK = /^BEGIN\s*\n\{[\s\S]*?\n\}\n/m;

// A module with its own BTF (/sys/kernel/btf/<module>) is named in kfunc
// attach points (kfunc:nf_nat:…): newer bpftrace looks a module's functions
// up only then. Built into the kernel, the function is found in vmlinux.
export function qualifyModules(text: string, modules: string[], hasModuleBtf = (m: string) => existsSync(`/sys/kernel/btf/${m}`)): string {
  let out = text;
  for (const m of modules) {
    if (!hasModuleBtf(m)) continue;
    out = out.replace(/^(kfunc|kretfunc):(?!\w+:)(\w+)/gm, `$1:${m}:$2`);
  }
  return out;
}

export async function composeProgram(probes: ProbeFamily[], dir = probesDir()): Promise<string> {
  const parts: string[] = [
    '// Composed by natscope from probes/*.bt: one program, one attach.',
    'BEGIN',
    '{',
    `\tprintf("natscope: tracing ${probes.join(',')}. Hit Ctrl-C to end.\\n");`,
    '}',
    '',
  ];
  for (const name of probes) {
    const text = await readFile(join(dir, PROBES[name].file), 'utf8');
    if (!BEGIN_BLOCK.test(text)) throw new Error(`${PROBES[name].file}: no BEGIN block where expected`);
    parts.push(`// ---- ${PROBES[name].file}`, qualifyModules(text.replace(BEGIN_BLOCK, ''), PROBES[name].modules));
  }
  // Printing the sequence counters every second lets a reader see progress
  // and, as a write to stdout, ends bpftrace (SIGPIPE) within a second if
  // natscope dies without stopping it.
  parts.push('interval:s:1', '{', ...probes.flatMap((p) => PROBES[p].sequenceMaps.map((m) => `\tprint(${m});`)), '}', '');
  return parts.join('\n');
}
