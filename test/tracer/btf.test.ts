import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { dropReasonsFrom, findEnum, loadDropReasons, VMLINUX_BTF } from '../../src/tracer/btf.js';

// A minimal BTF blob: header, an INT, an ENUM with two values, a string section.
function tinyBtf(): Buffer {
  const strings = Buffer.from('\0int\0skb_drop_reason\0SKB_NOT_DROPPED_YET\0SKB_DROP_REASON_NETFILTER_DROP\0');
  const off = (s: string) => strings.indexOf(Buffer.from(`\0${s}\0`)) + 1;
  const types: Buffer[] = [];
  const int = Buffer.alloc(16);
  int.writeUInt32LE(off('int'), 0);
  int.writeUInt32LE((1 << 24) | 0, 4); // KIND_INT, vlen 0
  int.writeUInt32LE(4, 8);
  int.writeUInt32LE(32, 12);
  types.push(int);
  const en = Buffer.alloc(12 + 16);
  en.writeUInt32LE(off('skb_drop_reason'), 0);
  en.writeUInt32LE((6 << 24) | 2, 4); // KIND_ENUM, 2 values
  en.writeUInt32LE(4, 8);
  en.writeUInt32LE(off('SKB_NOT_DROPPED_YET'), 12);
  en.writeInt32LE(0, 16);
  en.writeUInt32LE(off('SKB_DROP_REASON_NETFILTER_DROP'), 20);
  en.writeInt32LE(9, 24);
  types.push(en);
  const typeSec = Buffer.concat(types);
  const header = Buffer.alloc(24);
  header.writeUInt16LE(0xeb9f, 0);
  header.writeUInt8(1, 2);
  header.writeUInt32LE(24, 4);
  header.writeUInt32LE(0, 8);
  header.writeUInt32LE(typeSec.length, 12);
  header.writeUInt32LE(typeSec.length, 16);
  header.writeUInt32LE(strings.length, 20);
  return Buffer.concat([header, typeSec, strings]);
}

describe('BTF enum reader', () => {
  test('finds an enum after other types and reads its values', () => {
    const values = findEnum(tinyBtf(), 'skb_drop_reason');
    expect(values).toEqual(
      new Map([
        ['SKB_NOT_DROPPED_YET', 0],
        ['SKB_DROP_REASON_NETFILTER_DROP', 9],
      ]),
    );
    expect(findEnum(tinyBtf(), 'no_such_enum')).toBeNull();
  });

  test('drop reasons are named without their prefix, unknown codes say so', () => {
    const r = dropReasonsFrom(findEnum(tinyBtf(), 'skb_drop_reason')!, 'tiny');
    expect(r.name(9)).toBe('NETFILTER_DROP');
    expect(r.name(0)).toBe('NOT_DROPPED_YET');
    expect(r.name(77)).toBe('UNKNOWN_77');
    expect(r.code('NETFILTER_DROP')).toBe(9);
  });

  test('a kernel without BTF: tracing is refused with one line and the fix', async () => {
    await expect(loadDropReasons('/nonexistent/sys/kernel/btf/vmlinux')).rejects.toMatchObject({
      message: "cannot read the kernel's BTF at /nonexistent/sys/kernel/btf/vmlinux",
      hint: expect.stringContaining('CONFIG_DEBUG_INFO_BTF=y'),
    });
  });

  test('a blob that is not BTF is refused', () => {
    expect(() => findEnum(Buffer.from('not btf at all, definitely not'), 'x')).toThrow(/not a little-endian BTF blob/);
  });

  test.runIf(existsSync(VMLINUX_BTF))(
    "this kernel's NETFILTER_DROP matches what bpftool reads from the same BTF",
    async () => {
      const reasons = await loadDropReasons();
      const code = reasons.code('NETFILTER_DROP');
      expect(code).toBeGreaterThan(0);
      const bpftool = await execa('bpftool', ['btf', 'dump', 'file', VMLINUX_BTF, 'format', 'raw'], {
        reject: false,
        maxBuffer: 1 << 30,
      });
      if (bpftool.exitCode !== 0) return; // bpftool not installed: the synthetic tests above still hold
      const m = /'SKB_DROP_REASON_NETFILTER_DROP' val=(\d+)/.exec(bpftool.stdout);
      expect(Number(m?.[1])).toBe(code);
    },
  );
});
