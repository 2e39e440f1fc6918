// natscope trace --probes drop runs natively even where kprobes cannot
// attach (root; a namespace of the test's own makes the drop).

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeEvent } from '../../src/events/codec.js';
import type { CountedEvent } from '../../src/events/types.js';
import { CLI } from '../cli.js';
import { testTempDir } from '../helpers.js';

const NS = 'natscope-tracetest';
const dir = testTempDir('natscope-trace-');

beforeAll(async () => {
  await execa('ip', ['netns', 'del', NS], { reject: false });
  await execa('ip', ['netns', 'add', NS]);
  await execa('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  await execa('ip', ['netns', 'exec', NS, 'iptables', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9998', '-j', 'DROP']);
});

afterAll(async () => {
  await execa('ip', ['netns', 'del', NS], { reject: false });
});

describe('natscope trace --probes drop', () => {
  test('streams the drop as JSON and records the same events', async () => {
    const record = join(dir, 'drops.jsonl');
    const trace = execa(
      process.execPath,
      [CLI, 'trace', '--probes', 'drop', '--all-netns', '--json', '--record', record, '--duration', '8'],
      { reject: false },
    );
    let seen = '';
    trace.stderr?.on('data', (d: Buffer) => (seen += d.toString()));
    for (let i = 0; i < 300 && !/attached in/.test(seen); i++) await new Promise((r) => setTimeout(r, 50));
    expect(seen).toMatch(/attached in/);
    await execa('ip', ['netns', 'exec', NS, 'bash', '-c', 'echo hi > /dev/udp/127.0.0.1/9998'], { reject: false });
    const r = await trace;
    expect(r.exitCode).toBe(0);
    const events = String(r.stdout)
      .trim()
      .split('\n')
      .map((l, i) => decodeEvent(l, i + 1));
    const drop = events.find((e) => e.kind === 'drop' && e.packet.dport === 9998);
    expect(drop).toMatchObject({ reason: 'NETFILTER_DROP', packet: { proto: 'udp', dst: '127.0.0.1' } });
    const recorded = readFileSync(record, 'utf8')
      .trim()
      .split('\n')
      .map((l, i) => decodeEvent(l, i + 1));
    expect(recorded).toEqual(events);
    expect(r.stderr).toMatch(/\d+ events, 0 lost/);
  });

  test('Ctrl-C at any moment of start-up stops it promptly, and no bpftrace or temporary folder is left', async () => {
    const stoppedAfterMs: number[] = [];
    for (const delayMs of [0, 150, 400, 800, 1500, 2500, 4000]) {
      // a state folder of this run's own (its run folders go there), so that what it leaves can be told apart
      const tmp = mkdtempSync(join(dir, 'ctrl-c-'));
      const trace = execa(process.execPath, [CLI, 'trace', '--probes', 'drop', '--all-netns'], {
        reject: false,
        env: { NATSCOPE_STATE_DIR: tmp },
      });
      await new Promise((r) => setTimeout(r, delayMs));
      const sent = performance.now();
      trace.kill('SIGINT');
      const r = await trace;
      stoppedAfterMs.push(Math.round(performance.now() - sent));
      // before node has taken over its signals, SIGINT's default action ends it: nothing had started
      expect(r.exitCode === 130 || r.signal === 'SIGINT', `SIGINT after ${delayMs} ms: ${r.exitCode} ${r.signal}`).toBe(
        true,
      );
      expect(
        readdirSync(tmp).filter((f) => f !== 'function-probes.json'),
        `SIGINT after ${delayMs} ms`,
      ).toEqual([]);
      const left = await execa('pgrep', ['-f', tmp], { reject: false });
      expect(left.stdout, `SIGINT after ${delayMs} ms`).toBe('');
    }
    process.stderr.write(`  Ctrl-C during start-up (native): stopped after ${stoppedAfterMs.join(', ')} ms\n`);
    for (const ms of stoppedAfterMs) expect(ms).toBeLessThan(2000);
  });

  test("the lab's load is left out of the stream but counted, in the stream and in the summary", async () => {
    const PREFIX = 'natscope-tl-';
    const lab = (...args: string[]) =>
      execa(process.execPath, [CLI, 'lab', ...args, '--vm', 'off', '--prefix', PREFIX], { reject: false });
    expect((await lab('up')).exitCode).toBe(0);
    try {
      const trace = execa(
        process.execPath,
        [CLI, 'trace', '--probes', 'drop', '--json', '--duration', '12', '--vm', 'off', '--prefix', PREFIX],
        { reject: false },
      );
      let seen = '';
      trace.stderr?.on('data', (d: Buffer) => {
        seen += d.toString();
      });
      for (let i = 0; i < 300 && !/attached in/.test(seen); i++) await new Promise((r) => setTimeout(r, 50));
      // mysql's replies die at the vpn: the load's SYN-ACKs are dropped there
      const load = await lab('load', 'mysql', '--seconds', '2', '--json');
      expect(load.exitCode).toBe(1);
      const r = await trace;
      expect(r.exitCode).toBe(0);
      const events = String(r.stdout)
        .trim()
        .split('\n')
        .map((l, i) => decodeEvent(l, i + 1));
      const loadCounts = events.filter((e): e is CountedEvent => e.kind === 'counted' && e.cause === 'load');
      const dropped = loadCounts.filter((e) => e.of === 'drop' && e.host === 'vpn' && e.by === 'NETFILTER_DROP');
      const total = dropped.reduce((n, e) => n + e.count, 0);
      expect(total).toBeGreaterThan(0);
      // none of the load's drops is in the stream one by one
      expect(
        events.filter((e) => e.kind === 'drop' && e.host === 'vpn' && e.packet.dst.startsWith('192.168.10.')),
      ).toEqual([]);
      const m = /(\d+) of the lab's load counted, not shown/.exec(String(r.stderr));
      expect(Number(m?.[1])).toBe(loadCounts.reduce((n, e) => n + e.count, 0));
    } finally {
      await lab('down');
    }
  });

  test('a --prefix whose lab is not up is refused, not traced on every namespace', async () => {
    const r = await execa(process.execPath, [CLI, 'trace', '--probes', 'drop', '--prefix', 'natscope-nolab-'], {
      reject: false,
      timeout: 60_000,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      /^natscope: no lab with prefix natscope-nolab- is up\n {2}fix: sudo natscope lab up --prefix natscope-nolab-/m,
    );
    expect(r.stdout).toBe('');
  });
});
