// A fake terminal of a fixed size for blessed: what the program writes is
// kept, keys are written to its input.

import { PassThrough, Writable } from 'node:stream';

export interface FakeTerminal {
  input: PassThrough & { isTTY: boolean; setRawMode: (on: boolean) => void };
  output: Writable & { columns: number; rows: number; isTTY: boolean };
  written(): string;
  resize(cols: number, rows: number): void;
}

export function fakeTerminal(cols: number, rows: number): FakeTerminal {
  let data = '';
  const output = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, done) {
        data += chunk.toString();
        done();
      },
    }),
    { columns: cols, rows, isTTY: true },
  );
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => undefined });
  return {
    input,
    output,
    written: () => data,
    resize(c, r) {
      output.columns = c;
      output.rows = r;
      output.emit('resize');
    },
  };
}
