import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { splitLines, type LineItem } from '../../src/util/lines.js';

async function collect(chunks: (string | Buffer)[], max?: number): Promise<LineItem[]> {
  const out: LineItem[] = [];
  for await (const item of splitLines(Readable.from(chunks), max)) out.push(item);
  return out;
}

describe('splitLines', () => {
  test('lines split across chunks are joined, CRLF trimmed, a last line without newline kept', async () => {
    const items = await collect(['ab', 'c\nde', 'f\r\n', 'g']);
    expect(items).toEqual([
      { lineNo: 1, line: 'abc' },
      { lineNo: 2, line: 'def' },
      { lineNo: 3, line: 'g' },
    ]);
  });

  test('a 10 MB line is reported by its size, not held in memory, and reading goes on', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    const items = await collect([big, '\nnext\n'], 1024);
    expect(items[0]).toEqual({ lineNo: 1, tooLong: big.length });
    expect(items[1]).toEqual({ lineNo: 2, line: 'next' });
  });

  test('a line of exactly the limit is kept', async () => {
    const items = await collect(['x'.repeat(16), '\n'], 16);
    expect(items).toEqual([{ lineNo: 1, line: 'x'.repeat(16) }]);
  });
});
