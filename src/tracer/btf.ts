// Reads enums from the running kernel's BTF (/sys/kernel/btf/vmlinux), so
// drop reasons are named the way this kernel numbers them (NETFILTER_DROP is
// 7 on 6.1 and 12 on 6.18): never from a fixed table.
// BTF layout: include/uapi/linux/btf.h (header, type section, string section).

import { readFile } from 'node:fs/promises';
import { NatscopeError } from '../errors.js';

export const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

const BTF_MAGIC = 0xeb9f;
const KIND = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

// Bytes that follow a type's 12-byte header, by kind.
function trailingBytes(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return 12 * vlen;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return 8 * vlen;
    case KIND.PTR:
    case KIND.FWD:
    case KIND.TYPEDEF:
    case KIND.VOLATILE:
    case KIND.CONST:
    case KIND.RESTRICT:
    case KIND.FUNC:
    case KIND.FLOAT:
    case KIND.TYPE_TAG:
      return 0;
    default:
      throw new NatscopeError(`this kernel's BTF has a type kind natscope does not know (${kind})`, {
        hint: 'drop reasons cannot be named from it; please report the kernel version (uname -r)',
      });
  }
}

// Returns the named enum's values (name → value), or null if the BTF has no such enum.
export function findEnum(btf: Buffer, enumName: string): Map<string, number> | null {
  if (btf.length < 24 || btf.readUInt16LE(0) !== BTF_MAGIC)
    throw new NatscopeError('not a little-endian BTF blob', {
      hint: 'natscope reads /sys/kernel/btf/vmlinux on little-endian machines',
    });
  const hdrLen = btf.readUInt32LE(4);
  const typeOff = btf.readUInt32LE(8);
  const typeLen = btf.readUInt32LE(12);
  const strOff = btf.readUInt32LE(16);
  const strLen = btf.readUInt32LE(20);
  const types = hdrLen + typeOff;
  const strings = hdrLen + strOff;
  const str = (off: number): string => {
    if (off >= strLen) return '';
    const end = btf.indexOf(0, strings + off);
    return btf.toString('latin1', strings + off, end);
  };
  let p = types;
  const end = types + typeLen;
  while (p < end) {
    const nameOff = btf.readUInt32LE(p);
    const info = btf.readUInt32LE(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const body = p + 12;
    if ((kind === KIND.ENUM || kind === KIND.ENUM64) && str(nameOff) === enumName) {
      const values = new Map<string, number>();
      const stride = kind === KIND.ENUM ? 8 : 12;
      for (let i = 0; i < vlen; i++) {
        const m = body + i * stride;
        // ENUM values are 32-bit (signedness per kflag); drop reasons are small
        values.set(str(btf.readUInt32LE(m)), btf.readInt32LE(m + 4));
      }
      return values;
    }
    p = body + trailingBytes(kind, vlen);
  }
  return null;
}

export interface DropReasons {
  name(code: number): string;
  code(name: string): number | undefined;
  source: string;
}

const PREFIX = 'SKB_DROP_REASON_';

// Drop reason names of the running kernel, without the SKB_DROP_REASON_ prefix.
export async function loadDropReasons(path = VMLINUX_BTF): Promise<DropReasons> {
  let blob: Buffer;
  try {
    blob = await readFile(path);
  } catch (cause) {
    throw new NatscopeError(`cannot read the kernel's BTF at ${path}`, {
      hint: 'drop reasons are named from BTF: use a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian and Ubuntu kernels are)',
      cause,
    });
  }
  const values = findEnum(blob, 'skb_drop_reason');
  if (!values) {
    throw new NatscopeError(`the kernel's BTF has no enum skb_drop_reason`, {
      hint: 'drop reasons need Linux 5.17 or newer',
    });
  }
  return dropReasonsFrom(values, path);
}

export function dropReasonsFrom(values: Map<string, number>, source: string): DropReasons {
  const byCode = new Map<number, string>();
  const byName = new Map<string, number>();
  for (const [full, value] of values) {
    // SKB_NOT_DROPPED_YET / SKB_CONSUMED have no SKB_DROP_REASON_ prefix
    const short = full.startsWith(PREFIX) ? full.slice(PREFIX.length) : full.replace(/^SKB_/, '');
    if (!byCode.has(value)) byCode.set(value, short);
    byName.set(short, value);
  }
  return {
    name: (code) => byCode.get(code) ?? `UNKNOWN_${code}`,
    code: (name) => byName.get(name),
    source,
  };
}
