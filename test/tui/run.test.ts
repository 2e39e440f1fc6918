import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NatscopeError } from '../../src/errors.js';
import { runTui, type TuiOptions } from '../../tui/run.js';
import { asNatscopeError } from '../helpers.js';
import { INCIDENT } from './fixture.js';
import { fakeTerminal } from './terminal.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'natscope-tui-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const replayOptions = (file: string, extra: Partial<TuiOptions> = {}): TuiOptions => ({
  replay: file,
  speed: 0,
  probes: 'nat',
  prefix: 'natscope-',
  vm: 'auto',
  lab: 'netns',
  ...extra,
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<NatscopeError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  return asNatscopeError(error);
}

describe('runTui: bad input is reported before the screen opens', () => {
  it('a missing recording', async () => {
    const e = await failure(runTui(replayOptions(join(dir, 'nope.jsonl'))));
    expect(e.message).toMatch(/does not exist/);
    expect(e.hint).toContain('--record');
  });

  it('an empty recording', async () => {
    const e = await failure(runTui(replayOptions(await file('empty.jsonl', ''))));
    expect(e.message).toMatch(/is empty/);
  });

  it('a file that is not JSONL, naming the line', async () => {
    const e = await failure(runTui(replayOptions(await file('notes.txt', 'hello world\n'))));
    expect(e.message).toMatch(/line 1: not JSON/);
  });

  it('a recording from a newer natscope, saying so', async () => {
    const line = (await readFile(INCIDENT, 'utf8')).split('\n')[0]!.replace('"v":1', '"v":2');
    const e = await failure(runTui(replayOptions(await file('newer.jsonl', `${line}\n`))));
    expect(e.message).toMatch(/event version 2 is newer than this natscope reads \(1\): upgrade natscope/);
  });

  it('no terminal to draw on', async () => {
    const isTTY = process.stdout.isTTY;
    Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
    try {
      const e = await failure(runTui(replayOptions(INCIDENT)));
      expect(e.message).toMatch(/needs a terminal/);
    } finally {
      Object.defineProperty(process.stdout, 'isTTY', { value: isTTY, configurable: true });
    }
  });

  it('live mode without root', async () => {
    const spy = vi.spyOn(process, 'getuid').mockReturnValue(1000);
    try {
      const e = await failure(
        runTui({ speed: 1, probes: 'nat,conntrack,drop', prefix: 'natscope-', vm: 'auto', lab: 'netns', io: {} }),
      );
      expect(e.message).toMatch(/needs root/);
      expect(e.hint).toContain('--replay');
    } finally {
      spy.mockRestore();
    }
  });

  it('an unknown probe family', async () => {
    await failure(runTui({ speed: 1, probes: 'nat,bogus', prefix: 'natscope-', vm: 'auto', lab: 'netns', io: {} }));
  });
});

describe('runTui on a fake terminal', () => {
  it('plays a recording until q, then restores the terminal and exits 0', async () => {
    const term = fakeTerminal(100, 30);
    const run = runTui(
      replayOptions(INCIDENT, { io: { input: term.input, output: term.output, terminal: 'xterm-256color', env: {} } }),
    );
    // a busy machine may take longer than any fixed pause: wait for the screen
    await vi.waitFor(() => expect(term.written()).toContain('NETFILTER_DROP'), { timeout: 10_000, interval: 20 });
    term.input.write('q');
    await expect(run).resolves.toBe(0);
    expect(term.written().lastIndexOf('\x1b[?1049l')).toBeGreaterThan(term.written().lastIndexOf('\x1b[?1049h'));
  });

  it('a recording that goes bad midway: shown on screen, reported on exit after the terminal is back', async () => {
    const good = (await readFile(INCIDENT, 'utf8')).split('\n').slice(0, 5).join('\n');
    const path = await file('truncated.jsonl', `${good}\n{"v":1,"kind":"nat"`);
    const term = fakeTerminal(100, 30);
    const run = runTui(
      replayOptions(path, { io: { input: term.input, output: term.output, terminal: 'xterm-256color', env: {} } }),
    );
    await vi.waitFor(() => expect(term.written()).toContain('replay stopped'), { timeout: 10_000, interval: 20 });
    term.input.write('q');
    const e = await failure(run);
    expect(e.message).toMatch(/line 6: not JSON/);
    expect(term.written().lastIndexOf('\x1b[?1049l')).toBeGreaterThan(term.written().lastIndexOf('\x1b[?1049h'));
  });
});
