import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DEFAULT_PROBES, PROBES, composeProgram, parseProbeList, qualifyModules } from '../../src/tracer/probes.js';
import { parseBpftraceLine } from '../../src/tracer/parse.js';
import { probesDir } from '../../src/util/paths.js';

describe('probe files', () => {
  test.each(Object.values(PROBES))('$file documents its hooks, fields and a real example the parser reads', (probe) => {
    const text = readFileSync(join(probesDir(), probe.file), 'utf8');
    for (const section of ['Hooks:', 'Kernel:', 'Fields:', 'Example:', 'Usage:']) expect(text).toContain(section);
    expect(text).toMatch(/^BEGIN\n\{\n\tprintf\("Tracing .*Hit Ctrl-C to end\.\\n"\);\n\}/m);
    const example = /^ \*   (\{"type": "printf".*\})$/m.exec(text)?.[1];
    expect(example).toBeDefined();
    const record = parseBpftraceLine(example!, { hostOf: () => 'x', dropReason: (c) => String(c) });
    expect(record.type).toBe('event');
    if (record.type === 'event') expect(record.probe).toBe(probe.name);
    // kernel notes are honest about what each hook needs
    expect(text).toMatch(probe.needs === 'kfunc' ? /^kretfunc:|^kfunc:/m : /^tracepoint:/m);
  });

  test('the default set is nat, conntrack and drop; rewrite is opt-in', () => {
    expect(DEFAULT_PROBES).toEqual(['nat', 'conntrack', 'drop']);
  });

  test('a composed program has one BEGIN, every selected probe, and a once-a-second counter print', async () => {
    const program = await composeProgram(['nat', 'drop']);
    expect(program.match(/^BEGIN$/gm)).toHaveLength(1);
    expect(program).toMatch(/kretfunc:(nf_nat:)?nf_nat_setup_info/);
    expect(program).toContain('tracepoint:skb:kfree_skb');
    expect(program).not.toContain('__nf_conntrack_confirm');
    expect(program).toMatch(/interval:s:1\n\{\n\tprint\(@nat_seq\);\n\tprint\(@drop_seq\);\n\}/);
  });

  test('module functions are named with their module when it has its own BTF', () => {
    const text = 'kretfunc:nf_nat_setup_info\n{\n}\nkfunc:nf_nat_manip_pkt\n{\n}\ntracepoint:skb:kfree_skb\n{\n}\n';
    expect(qualifyModules(text, ['nf_nat'], () => true)).toBe('kretfunc:nf_nat:nf_nat_setup_info\n{\n}\nkfunc:nf_nat:nf_nat_manip_pkt\n{\n}\ntracepoint:skb:kfree_skb\n{\n}\n');
    // built into the kernel: found in vmlinux, named as is
    expect(qualifyModules(text, ['nf_nat'], () => false)).toBe(text);
  });

  test('probe lists are checked and deduplicated', () => {
    expect(parseProbeList('nat, drop,nat')).toEqual(['nat', 'drop']);
    expect(() => parseProbeList('nat,kprobez')).toThrow(/unknown probe "kprobez"/);
    expect(() => parseProbeList(',')).toThrow(/--probes is empty/);
  });
});
