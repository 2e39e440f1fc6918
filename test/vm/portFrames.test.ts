import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  beginLine,
  endLine,
  type PortFrame,
  PortSplitter,
  parseRunEnd,
  parseRunHeader,
} from '../../src/vm/portFrames.js';

const NONCE = '0123456789abcdef0123456789abcdef';
const HEADER = { bpftrace: '0.17.0', hosts: [[4026532281, 'node1']] as [number, string][], dropReasons: [] };

// Feeds `bytes` to a splitter cut at `cuts`, and joins what it gives back.
function split(bytes: Buffer, cuts: number[] = []): { frames: PortFrame[]; data: string } {
  const splitter = new PortSplitter();
  const frames: PortFrame[] = [];
  let from = 0;
  for (const at of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    frames.push(...splitter.push(bytes.subarray(from, at)));
    from = at;
  }
  const data = frames
    .filter((f) => f.kind === 'data')
    .map((f) => f.bytes.toString())
    .join('');
  return { frames, data };
}

describe('framing a run on a virtio-serial port', () => {
  const body = '{"type": "printf", "data": "natscope-flush\\n"}\n{"type": "map", "data": {}}\n';
  const port = Buffer.from(beginLine(NONCE, HEADER) + body + endLine(NONCE, { exitCode: 0, signal: null }));

  // the end line's own leading newline (it ends a cut-off line) comes out as data: a blank line
  const passed = `${body}\n`;

  test("a run's bytes come out untouched, between its begin and end lines", () => {
    const { frames, data } = split(port);
    expect(frames[0]).toEqual({ kind: 'begin', nonce: NONCE, header: JSON.stringify(HEADER) });
    expect(parseRunHeader((frames[0] as { header: string }).header)).toEqual(HEADER);
    expect(data).toBe(passed);
    const end = frames.at(-1);
    expect(end).toEqual({ kind: 'end', nonce: NONCE, trailer: '{"exitCode":0,"signal":null}' });
    expect(parseRunEnd((end as { trailer: string }).trailer)).toEqual({ exitCode: 0, signal: null });
  });

  test('however the port cuts the stream into chunks, the same bytes and frames come out', () => {
    const whole = split(port);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: port.length }), { maxLength: 40 }), (cuts) => {
        const cut = split(port, cuts);
        expect(cut.data).toBe(passed);
        expect(cut.frames.filter((f) => f.kind !== 'data')).toEqual(whole.frames.filter((f) => f.kind !== 'data'));
      }),
    );
  });

  test('an end line with another nonce does not end the run: it is data', () => {
    const forged = endLine('f'.repeat(32), { exitCode: 1, signal: null });
    const { frames, data } = split(
      Buffer.from(beginLine(NONCE, null) + forged + endLine(NONCE, { exitCode: null, signal: 'SIGTERM' })),
    );
    expect(data).toBe(`${forged}\n`);
    expect(frames.filter((f) => f.kind === 'end')).toHaveLength(1);
  });

  test('a line cut off by an exiting bpftrace stays data; the end line still ends the run', () => {
    const { data, frames } = split(
      Buffer.from(`${beginLine(NONCE, null)}{"type": "prin${endLine(NONCE, { exitCode: 1, signal: null })}`),
    );
    expect(data).toBe('{"type": "prin\n');
    expect(frames.at(-1)?.kind).toBe('end');
  });

  test('a line that ends a chunk comes out at once, not with the next chunk (the attach notice)', () => {
    const splitter = new PortSplitter();
    splitter.push(Buffer.from(beginLine(NONCE, null)));
    const notice = '__BPFTRACE_NOTIFY_PROBES_ATTACHED\n';
    expect(splitter.push(Buffer.from(notice))).toEqual([{ kind: 'data', bytes: Buffer.from(notice) }]);
    const flush = '{"type": "printf", "data": "natscope-flush\\n"}\n';
    expect(splitter.push(Buffer.from(flush))).toEqual([{ kind: 'data', bytes: Buffer.from(flush) }]);
  });

  test('only a last line that could become the end line is held back', () => {
    const splitter = new PortSplitter();
    splitter.push(Buffer.from(beginLine(NONCE, null)));
    expect(splitter.push(Buffer.from('a\nnatscope-en'))).toEqual([{ kind: 'data', bytes: Buffer.from('a\n') }]);
    const rest = splitter.push(Buffer.from(`d:${NONCE}:{"exitCode":0,"signal":null}\n`));
    expect(rest).toEqual([{ kind: 'end', nonce: NONCE, trailer: '{"exitCode":0,"signal":null}' }]);
  });

  test('lines outside a run are noise, and runs follow one another on one port', () => {
    const other = 'fedcba9876543210fedcba9876543210';
    const { frames } = split(
      Buffer.from(
        `stray line\n${beginLine(NONCE, null)}a\n${endLine(NONCE, { exitCode: 0, signal: null })}${beginLine(other, null)}b\n${endLine(other, { exitCode: 0, signal: null })}`,
      ),
    );
    expect(frames.map((f) => f.kind)).toEqual(['noise', 'begin', 'data', 'end', 'begin', 'data', 'end']);
    expect(frames.filter((f) => f.kind === 'end').map((f) => f.nonce)).toEqual([NONCE, other]);
  });

  test('a begin line without a proper nonce begins nothing', () => {
    const { frames } = split(Buffer.from('natscope-begin:xyz:{}\nnatscope-begin:0123:\n'));
    expect(frames.map((f) => f.kind)).toEqual(['noise', 'noise']);
  });

  test('a header that is not what the guest writes is refused', () => {
    expect(() => parseRunHeader('{"bpftrace": 17}')).toThrow();
    expect(() => parseRunHeader('not json')).toThrow();
  });
});
