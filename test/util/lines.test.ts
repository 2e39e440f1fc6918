import { Readable } from 'node:stream';
import fc from 'fast-check';
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

  test('a character split between chunks, and bytes that are not UTF-8, read as UTF-8 reads them', async () => {
    const bytes = Buffer.from('drop at näive_rcv ✓\n', 'utf8');
    const cut = bytes.indexOf(0xe2) + 1;
    const items = await collect([bytes.subarray(0, cut), bytes.subarray(cut), Buffer.from([0x61, 0xff, 0x0a])]);
    expect(items).toEqual([
      { lineNo: 1, line: 'drop at näive_rcv ✓' },
      { lineNo: 2, line: 'a\ufffd' },
    ]);
  });

  test('agrees with decoding the whole input as UTF-8 and splitting it, on random bytes and chunkings', async () => {
    // mostly ASCII, with newlines, carriage returns, multi-byte characters and stray bytes
    const text = (t: string) => Buffer.from(t, 'utf8');
    const piece = fc.oneof(
      fc.string({ maxLength: 12 }).map(text),
      fc.constantFrom('\n', '\r\n', 'é', '✓', '😀').map(text),
      fc.uint8Array({ maxLength: 3 }).map((b) => Buffer.from(b)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (pieces, cuts) => {
          const bytes = Buffer.concat(pieces);
          const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...at].map((from, i) => bytes.subarray(from, at[i] ?? bytes.length));
          const expected: LineItem[] = [];
          const lines: Buffer[] = [];
          for (let from = 0; from <= bytes.length; ) {
            const nl = bytes.indexOf(10, from);
            lines.push(bytes.subarray(from, nl < 0 ? bytes.length : nl));
            if (nl < 0) break;
            from = nl + 1;
          }
          // the last piece is a line only if it has bytes
          if (lines.at(-1)!.length === 0) lines.pop();
          for (const [i, line] of lines.entries())
            expected.push({ lineNo: i + 1, line: line.toString('utf8').replace(/\r$/, '') });
          expect(await collect(chunks)).toEqual(expected);
        },
      ),
      { numRuns: 300, seed: 20261205 },
    );
  });
});
