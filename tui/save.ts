// `s`: the session as JSONL, the format every natscope frontend reads, so a
// saved session replays with `natscope tui --replay FILE`.

import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { encodeEvent } from '../src/events/codec.js';
import type { NatscopeEvent } from '../src/events/types.js';
import { errnoOf } from '../src/errors.js';

export function sessionFileName(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `natscope-tui-${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}-${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}.jsonl`;
}

// Writes a new file in `dir` (never over an existing one); returns its path as the user would type it.
export async function saveSession(events: NatscopeEvent[], dir = process.cwd(), date = new Date()): Promise<string> {
  let path = join(dir, sessionFileName(date));
  for (let i = 2; ; i++) {
    try {
      await writeFile(path, events.map((e) => `${encodeEvent(e)}\n`).join(''), { flag: 'wx' });
      break;
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST' || i > 9) throw error;
      path = join(dir, sessionFileName(date).replace('.jsonl', `-${i}.jsonl`));
    }
  }
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : `./${rel}`;
}
