// How a guest program's raw output is framed on a virtio-serial port. A port
// stays open across runs and says nothing when a writer closes it, so each
// run of bpftrace is framed in-band: a begin line with a random nonce (and,
// on the stdout port, what the host needs to parse it: the guest's bpftrace
// version, namespace names and drop reasons), bpftrace's bytes untouched, and
// an end line carrying the nonce and how bpftrace exited. Only the writer
// knows the nonce, so no line bpftrace prints can end a run early.
// Pure: the guest side writes with beginLine/endLine, the host splits with
// PortSplitter.

import { z } from 'zod';

const BEGIN = 'natscope-begin:';
const END = 'natscope-end:';
// a begin line carries a few hundred drop reasons and the lab's namespaces
const MAX_BEGIN_BYTES = 1 << 20;
const NONCE = /^[0-9a-f]{32}$/;

// What the host needs to parse a guest bpftrace's output as the guest would.
export const RunHeaderSchema = z.object({
  // bpftrace --version's number, e.g. "0.17.0"
  bpftrace: z.string().max(64),
  // netns inode → host name (the guest's own namespace as "host")
  hosts: z.array(z.tuple([z.number().int().nonnegative(), z.string().max(64)])).max(4096),
  // enum skb_drop_reason of the guest kernel, as BTF names it
  dropReasons: z.array(z.tuple([z.string().max(128), z.number().int()])).max(4096),
});
export type RunHeader = z.infer<typeof RunHeaderSchema>;

// How the guest bpftrace ended.
export const RunEndSchema = z.object({
  exitCode: z.number().int().nullable(),
  signal: z.string().max(16).nullable(),
});
export type RunEnd = z.infer<typeof RunEndSchema>;

export function beginLine(nonce: string, header: RunHeader | null): string {
  return `${BEGIN}${nonce}:${header ? JSON.stringify(header) : ''}\n`;
}

// Starts with a newline: the end is a line of its own even after a cut-off line.
export function endLine(nonce: string, end: RunEnd): string {
  return `\n${END}${nonce}:${JSON.stringify(end)}\n`;
}

export type PortFrame =
  | { kind: 'begin'; nonce: string; header: string }
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'end'; nonce: string; trailer: string }
  // a line outside any run (nothing natscope wrote): dropped, said so
  | { kind: 'noise'; bytes: number };

// Splits a port's byte stream into runs. Between runs it reads lines until a
// begin line; within a run it passes bytes through untouched, holding back
// only a last line that could be the start of the end line (bpftrace's lines
// begin with "{" or "_", so in practice nothing: a line that ends a chunk,
// such as the attach notice, must not wait for the next chunk).
export class PortSplitter {
  private state: 'idle' | 'run' | 'trailer' = 'idle';
  private pending: Buffer = Buffer.alloc(0);
  private nonce = '';
  private marker: Buffer = Buffer.alloc(0);
  // the next byte of the run starts a line
  private lineStart = true;

  push(chunk: Buffer): PortFrame[] {
    const frames: PortFrame[] = [];
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.state === 'run') {
        const at = this.markerAt(data);
        if (at === -1) {
          // the end line may have begun in the last line: keep it for the next chunk
          const keep = this.partialMarker(data);
          const pass = data.subarray(0, data.length - keep);
          if (pass.length > 0) {
            frames.push({ kind: 'data', bytes: pass });
            this.lineStart = pass[pass.length - 1] === 10;
          }
          this.pending = Buffer.from(data.subarray(data.length - keep));
          return frames;
        }
        if (at > 0) frames.push({ kind: 'data', bytes: data.subarray(0, at) });
        data = data.subarray(at + this.marker.length);
        this.state = 'trailer';
        continue;
      }
      const newline = data.indexOf(10);
      if (newline === -1) {
        if (data.length > MAX_BEGIN_BYTES) {
          frames.push({ kind: 'noise', bytes: data.length });
        } else this.pending = Buffer.from(data);
        return frames;
      }
      const line = data.subarray(0, newline).toString();
      data = data.subarray(newline + 1);
      if (this.state === 'trailer') {
        frames.push({ kind: 'end', nonce: this.nonce, trailer: line });
        this.state = 'idle';
        continue;
      }
      const begun = this.begin(line);
      if (begun) frames.push(begun);
      else if (line.length > 0) frames.push({ kind: 'noise', bytes: line.length });
    }
    return frames;
  }

  // Where the end line starts in `data` (at the start of a line), or -1.
  private markerAt(data: Buffer): number {
    for (let at = data.indexOf(this.marker); at !== -1; at = data.indexOf(this.marker, at + 1)) {
      if (at === 0 ? this.lineStart : data[at - 1] === 10) return at;
    }
    return -1;
  }

  // How many bytes at the end of `data` begin a line that could still become the end line.
  private partialMarker(data: Buffer): number {
    const last = data.lastIndexOf(10);
    if (last === -1 && !this.lineStart) return 0;
    const tail = data.subarray(last + 1);
    if (tail.length === 0 || tail.length >= this.marker.length) return 0;
    return this.marker.subarray(0, tail.length).equals(tail) ? tail.length : 0;
  }

  private begin(line: string): PortFrame | null {
    if (!line.startsWith(BEGIN)) return null;
    const nonce = line.slice(BEGIN.length, BEGIN.length + 32);
    if (!NONCE.test(nonce) || line[BEGIN.length + 32] !== ':') return null;
    this.nonce = nonce;
    this.marker = Buffer.from(`${END}${nonce}:`);
    this.lineStart = true;
    this.state = 'run';
    return { kind: 'begin', nonce, header: line.slice(BEGIN.length + 33) };
  }
}

// The begin line's header, checked (it crossed from the guest).
export function parseRunHeader(text: string): RunHeader {
  return RunHeaderSchema.parse(JSON.parse(text));
}

export function parseRunEnd(text: string): RunEnd {
  return RunEndSchema.parse(JSON.parse(text));
}
