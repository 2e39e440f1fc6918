import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DEFAULT_PROBES, PROBES, composeProgram, parseProbeList, qualifyModules } from '../../src/tracer/probes.js';
import { parseBpftraceLine } from '../../src/tracer/parse.js';
import { FLUSH_INTERVAL_MS, FLUSH_MARKER, STREAMS } from '../../src/tracer/streams.js';
import { probesDir } from '../../src/util/paths.js';
import { parseBpftraceVersion, TESTED_VERSIONS } from '../../src/tracer/version.js';

const V0_17 = parseBpftraceVersion('bpftrace v0.17.0')!;
const V0_23 = parseBpftraceVersion('bpftrace v0.23.2')!;

describe('probe files', () => {
  test.each(Object.values(PROBES))('$file documents its hooks, output and a real example the parser reads', (probe) => {
    const text = readFileSync(join(probesDir(), probe.file), 'utf8');
    for (const section of ['Hooks:', 'Kernel:', 'Output:', 'Example:', 'Usage:']) expect(text).toContain(section);
    expect(text).toMatch(/^BEGIN\n\{\n\tprintf\("Tracing .*Hit Ctrl-C to end\.\\n"\);\n\}/m);
    const example = /^ \* {3}(\{"type": "map".*\})$/m.exec(text)?.[1];
    expect(example).toBeDefined();
    const record = parseBpftraceLine(example!, { hostOf: () => 'x', dropReason: (c) => String(c) });
    expect(record.type).toBe('batch');
    const streams = new Set(record.type === 'batch' ? record.events.map((e) => e.stream) : []);
    expect(streams.size).toBeGreaterThan(0);
    for (const stream of streams) expect(probe.streams).toContain(stream);
    // every stream the probe writes is documented with its buffers and its count maps
    for (const stream of probe.streams)
      for (const map of [...STREAMS[stream].buffers, ...STREAMS[stream].counts]) expect(text).toContain(map);
    // and so is a real print of a count map (events past the detail budget)
    const counts = /^ \* {3}(\{"type": "map", "data": \{"@\w+_over_[ab]".*\})$/m.exec(text)?.[1];
    expect(counts).toBeDefined();
    const counted = parseBpftraceLine(counts!, { hostOf: () => 'x', dropReason: (c) => `R${c}` });
    expect(counted.type).toBe('counted');
    for (const e of counted.type === 'counted' ? counted.events : []) {
      expect(probe.streams).toContain(e.of);
      expect(e.count).toBeGreaterThan(0);
    }
    // kernel notes are honest about what each hook needs
    expect(text).toMatch(probe.needs === 'kfunc' ? /^kretfunc:|^kfunc:/m : /^tracepoint:/m);
  });

  test('the default set is nat, conntrack and drop; rewrite is opt-in', () => {
    expect(DEFAULT_PROBES).toEqual(['nat', 'conntrack', 'drop']);
  });

  test('a composed program has one BEGIN, every selected probe, and one flush for all their buffers', async () => {
    const program = await composeProgram(['nat', 'drop'], V0_17);
    expect(program.match(/^BEGIN$/gm)).toHaveLength(1);
    expect(program).toMatch(/kretfunc:(nf_nat:)?nf_nat_setup_info/);
    expect(program).toContain('tracepoint:skb:kfree_skb');
    expect(program).not.toContain('__nf_conntrack_confirm');
    // the probes' own flushes are replaced by one that prints both probes' buffers, then the marker
    expect(program.match(/^interval:/gm)).toEqual(['interval:']);
    const flush = program.slice(program.indexOf('interval:ms:'));
    for (const side of ['a', 'b']) {
      const prints = [...flush.matchAll(new RegExp(`print\\((@\\w+_${side})\\); clear\\(\\1\\);`, 'g'))].map(
        (m) => m[1],
      );
      expect(prints).toEqual([`@nat_${side}`, `@drop_${side}`, `@nat_over_${side}`, `@drop_over_${side}`]);
      // the side's detail budgets (the drops' is their own) start again once it has been printed
      expect(flush.match(new RegExp(`clear\\(@detail_${side}\\);`, 'g'))).toHaveLength(1);
      expect(flush.match(new RegExp(`clear\\(@drop_detail_${side}\\);`, 'g'))).toHaveLength(1);
      // one tick hands the side over (marked pending until its clear has run), printing nothing
      const n = side === 'a' ? 1 : 2;
      // its time read before the switch: a probe reads @batch before its event's time, so every event on the other side is later
      expect(flush).toMatch(
        new RegExp(`@handed_at = nsecs;\\s*@batch = ${2 - n};\\s*@pending_${side} = 1;\\s*@handed = ${n};\\s*\\}`),
      );
      // the next prints it: its buffers, its counts, its budgets, its pending mark, then the marker
      const drain = new RegExp(`if \\(@handed == ${n}\\) \\{([^}]*)\\}`).exec(flush)?.[1] ?? '';
      expect(drain.indexOf(`print(@nat_${side})`)).toBeGreaterThanOrEqual(0);
      expect(drain).toMatch(
        // the marker with the tick's time and the hand-over's (every later flush holds only events after it)
        new RegExp(
          `clear\\(@pending_${side}\\);\\s*printf\\("${FLUSH_MARKER} %llu %llu\\\\n", nsecs, @handed_at\\);\\s*@handed = 0;\\s*$`,
        ),
      );
    }
    // two ticks a flush: each side still fills for FLUSH_INTERVAL_MS
    expect(flush).toMatch(new RegExp(`^interval:ms:${FLUSH_INTERVAL_MS / 2}\\n`));
  });

  test.each(Object.values(PROBES))(
    "$file: a probe chooses its buffer once, before it reads its event's time (so every event on the other side came after the hand-over)",
    (probe) => {
      const code = readFileSync(join(probesDir(), probe.file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      // each probe's body: its attach point, an optional filter, then { … } up to the closing brace at the line's start
      const bodies = [
        ...code.matchAll(/^(?:kfunc|kretfunc|tracepoint):[^\n]*\n(?:\/[^\n]*\/\n)?\{\n([\s\S]*?)^\}$/gm),
      ].map((m) => m[1]!);
      const timed = bodies.filter((b) => b.includes('nsecs'));
      expect(timed.length).toBeGreaterThan(0);
      for (const body of timed) {
        expect(body.match(/@batch/g)).toEqual(['@batch']);
        expect(body.indexOf('$side = @batch;')).toBeGreaterThanOrEqual(0);
        expect(body.indexOf('$side = @batch;')).toBeLessThan(body.indexOf('nsecs'));
        // every buffer write is on the side chosen
        for (const write of body.matchAll(/^\t+(@\w+)_([ab])\[/gm)) {
          const before = body.slice(0, write.index);
          const guard = before.lastIndexOf('if ($side == 0)');
          const otherwise = before.lastIndexOf('} else {');
          expect(guard, `${write[1]}_${write[2]}`).toBeGreaterThanOrEqual(0);
          expect(write[2] === 'a' ? otherwise < guard : otherwise > guard, `${write[1]}_${write[2]}`).toBe(true);
        }
      }
    },
  );

  test.each(Object.values(PROBES))(
    '$file has no ternary and says which bpftrace versions and kernels it was tested on',
    (probe) => {
      const text = readFileSync(join(probesDir(), probe.file), 'utf8');
      // bpftrace 0.23 (LLVM 19) crashes compiling a ternary of map lookups or booleans: none at all
      const code = text
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '')
        .replace(/"[^"]*"/g, '""');
      expect(code).not.toContain('?');
      const tested = (/^ \* Tested: {3}([\s\S]*?)\n \*\n/m.exec(text)?.[1] ?? '').replace(/\n \*\s+/g, ' ');
      for (const v of TESTED_VERSIONS) expect(tested).toContain(`bpftrace ${v}`);
      expect(tested).toMatch(/Linux 6\.1\.\d+-\d+-amd64 \(Debian 12\)/);
      expect(tested).toMatch(/Linux 6\.12\.\d+\+deb13-amd64 \(Debian 13\)/);
    },
  );

  test('a program composed for bpftrace 0.23 sets the flush state in BEGIN and says whom it is for', async () => {
    const program = await composeProgram(DEFAULT_PROBES, V0_23);
    expect(program.split('\n')[0]).toContain('for bpftrace 0.23.2');
    const begin = /^BEGIN\n\{\n([\s\S]*?)\n\}/m.exec(program)?.[1] ?? '';
    for (const map of ['@batch', '@pending_a', '@pending_b', '@handed']) expect(begin).toContain(`${map} = 0;`);
    const code = program
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '')
      .replace(/"[^"]*"/g, '""');
    expect(code).not.toContain('?');
  });

  test('module functions are named with their module when it has its own BTF', () => {
    const text = 'kretfunc:nf_nat_setup_info\n{\n}\nkfunc:nf_nat_manip_pkt\n{\n}\ntracepoint:skb:kfree_skb\n{\n}\n';
    expect(qualifyModules(text, ['nf_nat'], () => true)).toBe(
      'kretfunc:nf_nat:nf_nat_setup_info\n{\n}\nkfunc:nf_nat:nf_nat_manip_pkt\n{\n}\ntracepoint:skb:kfree_skb\n{\n}\n',
    );
    // built into the kernel: found in vmlinux, named as is
    expect(qualifyModules(text, ['nf_nat'], () => false)).toBe(text);
  });

  test('probe lists are checked and deduplicated', () => {
    expect(parseProbeList('nat, drop,nat')).toEqual(['nat', 'drop']);
    expect(() => parseProbeList('nat,kprobez')).toThrow(/unknown probe "kprobez"/);
    expect(() => parseProbeList(',')).toThrow(/--probes is empty/);
  });
});
