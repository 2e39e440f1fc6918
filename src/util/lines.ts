// Splits a byte stream into lines without ever holding more than `maxBytes`
// of one line: a runaway line (a 10 MB blob, a binary file) is reported by
// its length and skipped instead of exhausting memory.

import { isAscii } from 'node:buffer';

export type LineItem = { lineNo: number; line: string } | { lineNo: number; tooLong: number };

export async function* splitLines(
  source: AsyncIterable<Buffer | string>,
  maxBytes = 1 << 20,
): AsyncGenerator<LineItem> {
  let parts: Buffer[] = [];
  let held = 0;
  let overflow = 0; // bytes of the current line dropped past maxBytes
  let lineNo = 0;

  const finish = (): LineItem => {
    lineNo++;
    if (overflow > 0) {
      const item = { lineNo, tooLong: held + overflow };
      parts = [];
      held = 0;
      overflow = 0;
      return item;
    }
    let text = decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts, held));
    if (text.endsWith('\r')) text = text.slice(0, -1);
    parts = [];
    held = 0;
    return { lineNo, line: text };
  };

  for await (const chunk of source) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(10, start);
      const end = nl === -1 ? buf.length : nl;
      const piece = end - start;
      if (overflow > 0 || held + piece > maxBytes) {
        overflow += piece;
      } else if (piece > 0) {
        parts.push(buf.subarray(start, end));
        held += piece;
      }
      if (nl === -1) break;
      yield finish();
      start = nl + 1;
    }
  }
  if (held > 0 || overflow > 0) yield finish();
}

// A line's bytes as text (UTF-8; a malformed sequence becomes U+FFFD). Nearly
// every line is ASCII (bpftrace's JSON, natscope's own), and for ASCII the
// two decoders give the same text; node copies an ASCII line of over 1 MB
// (a busy flush's buffer print) into a string kept outside V8's heap, where
// UTF-8 is decoded into a new string on it (a 2 MB line: 0.3 ms against
// 9 ms at best). Shorter lines cost the same either way.
function decode(bytes: Buffer): string {
  return isAscii(bytes) ? bytes.toString('ascii') : bytes.toString('utf8');
}

// Calls `onLine` with each non-blank line of a stream as it arrives
// (trimmed): a child's progress on stderr, a guest's console.
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let buffer = '';
  stream.on('data', (d: Buffer | string) => {
    buffer += d.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) onLine(line);
    }
  });
}
