// natscope trace --record: a file that cannot take the recording is refused
// before tracing starts, and a FIFO is written only while someone reads it
// (root: trace needs it; the drop probe is a tracepoint, so it attaches here).

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { CLI } from '../cli.js';

const dir = mkdtempSync(join(tmpdir(), 'natscope-record-lab-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function trace(args: string[]) {
  return execa(process.execPath, [CLI, 'trace', '--probes', 'drop', '--all-netns', '--json', ...args], {
    reject: false,
    timeout: 120_000,
  });
}

describe('natscope trace --record', () => {
  test.each([
    ['an empty name', () => '', /^natscope: --record needs a file name, and it is empty\n {2}fix: name the file/],
    [
      '/dev/full',
      () => '/dev/full',
      /^natscope: cannot write the recording \/dev\/full: no space left on its device\n {2}fix: /,
    ],
    [
      'a FIFO nobody reads',
      () => {
        const fifo = join(dir, 'unread');
        execFileSync('mkfifo', [fifo]);
        return fifo;
      },
      /^natscope: nothing reads the FIFO .*unread: the recording would wait for a reader\n {2}fix: start its reader first/,
    ],
  ])('%s is refused before tracing starts', async (_name, path, message) => {
    const started = performance.now();
    const r = await trace(['--record', path(), '--duration', '30']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/attach/);
    // refused at once, not after the 30 s of tracing
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test('a FIFO with a reader gets the recording, and --duration ends the run', async () => {
    const fifo = join(dir, 'read');
    execFileSync('mkfifo', [fifo]);
    const out = join(dir, 'from-fifo.jsonl');
    const reader = spawn('sh', ['-c', 'exec cat "$1" > "$2"', 'sh', fifo, out], { stdio: 'ignore' });
    const readerDone = new Promise((resolve) => reader.once('exit', resolve));
    try {
      // the reader has the FIFO open once its open() waits for a writer
      await new Promise((resolve) => setTimeout(resolve, 300));
      const r = await trace(['--record', fifo, '--duration', '2']);
      expect(r.exitCode).toBe(0);
      await readerDone;
      const recorded = readFileSync(out, 'utf8').trim().split('\n');
      const printed = String(r.stdout).trim().split('\n');
      expect(recorded).toEqual(printed);
      expect(recorded.some((l) => l.includes('"kind":"status"'))).toBe(true);
    } finally {
      if (reader.exitCode === null) reader.kill();
    }
  });
});
