// The CLI as a user meets it, without root: help, replay, and bad input
// answered with one clear line and a non-zero exit.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { RECORDING, ROOT, testTempDir } from '../helpers.js';
import { natscope } from '../cli.js';

const dir = testTempDir('natscope-cli-');

describe('natscope, without root', () => {
  test('--version is the package.json version', async () => {
    const r = await natscope(['--version']);
    const pkg = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')));
    expect(String(r.stdout).trim()).toBe(pkg.version);
  });

  test('--help lists the commands and ends with examples', async () => {
    const r = await natscope(['--help']);
    expect(r.exitCode).toBe(0);
    for (const c of ['doctor', 'trace', 'replay', 'lab', 'vm', 'tui', 'demo']) expect(r.stdout).toContain(`  ${c}`);
    expect(r.stdout).toMatch(/Try the following:\n\s+\$ sudo natscope demo/);
  });

  test('replay --json reproduces the recording event for event, in time order', async () => {
    const r = await natscope(['replay', RECORDING, '--json']);
    expect(r.exitCode).toBe(0);
    // Array.prototype.sort is stable: events of the same time keep their order
    const want = readFileSync(RECORDING, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .sort((a, b) => a.t - b.t);
    expect(
      String(r.stdout)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(want);
  });

  test('replay --flows tells the broken mysql request hop by hop', async () => {
    const r = await natscope(['replay', RECORDING, '--flows']);
    expect(r.stdout).toContain(
      'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP',
    );
  });

  test.each([
    [
      ['trace', '--probes', 'nat,bogus'],
      2,
      /^natscope: unknown probe "bogus"\n {2}fix: known probes: nat, conntrack, drop, rewrite/,
    ],
    [['replay', join(dir, 'missing.jsonl')], 1, /^natscope: replay file .*missing\.jsonl does not exist\n/],
    [['replay', 'GARBAGE'], 1, /^natscope: .*garbage\.jsonl: line 1: not JSON: "hello"\n/],
    [['replay', 'NEWER'], 1, /line 1: event version 3 is newer than this natscope reads \(1\): upgrade natscope/],
    [
      ['lab', 'request'],
      2,
      /^natscope: missing required argument 'target'\n {2}fix: natscope lab request --help lists its options and arguments$/,
    ],
    [
      ['lab', 'up', '--vm', 'sometimes'],
      2,
      /^natscope: option '--vm <mode>' argument 'sometimes' is invalid. Allowed choices are auto, on, off.\n {2}fix: natscope lab up --help/,
    ],
    [['replay', RECORDING, '--speed', '-1'], 2, /argument '-1' is invalid. expected a number ≥ 0/],
    [
      ['lab', 'load', 'nginx', '--workers', '0.5'],
      2,
      /argument '0.5' is invalid. expected a whole number from 1 to 64/,
    ],
    [
      ['lab', 'load', 'nginx', '--workers', '100000'],
      2,
      /argument '100000' is invalid. expected a whole number from 1/,
    ],
    [['lab', 'load', 'nginx', '--seconds', ''], 2, /argument '' is invalid. expected a positive number/],
    [['trace', '--duration', '0'], 2, /argument '0' is invalid. expected a positive number/],
    [['lab', 'up', '--prefix', 'Bad_Prefix'], 2, /argument 'Bad_Prefix' is invalid. use lower-case letters/],
    [['lab', 'up', '--lab', 'minikube'], 2, /Allowed choices are netns, kind/],
    [
      ['trace', '--detail', 'lots'],
      2,
      /argument 'lots' is invalid. --detail "lots" is not a number of events or "all"; give events per CPU and second/,
    ],
  ])('natscope %j exits %i with one clear line', async (args, code, message) => {
    const files: Record<string, string> = { GARBAGE: join(dir, 'garbage.jsonl'), NEWER: join(dir, 'newer.jsonl') };
    writeFileSync(files.GARBAGE!, 'hello\n');
    writeFileSync(files.NEWER!, '{"v":3,"kind":"nat","t":0,"host":"x","netns":0}\n');
    const r = await natscope(args.map((a) => files[a] ?? a));
    expect(r.exitCode).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
  });
});
