// natscope replay, tui --replay and demo --replay as a user meets them, on
// recordings someone else made: hostile strings never reach the terminal
// raw, and every bad file or line gets one clear line with a fix.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { CLI, natscope } from '../cli.js';
import { FIXTURES, RECORDING, isRoot } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'natscope-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007';
const SHOWN = '\\x1b[2J\\x1b]0;pwned\\x07';
// raw C0 controls but the line break, DEL, C1
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const WALKTHROUGH = join(FIXTURES, 'recordings', 'walkthrough.jsonl');

// A real recording with every "vpn" host, drop location and pod answer made hostile (JSON-escaped, as a tool would write it).
function hostileCopy(from: string, name: string): string {
  const text = readFileSync(from, 'utf8')
    .replaceAll('"host":"vpn"', `"host":${JSON.stringify(`vpn${HOSTILE}`)}`)
    .replaceAll('"location":"nft_do_chain"', `"location":${JSON.stringify(`nft_do_chain${HOSTILE}\u009b31m`)}`)
    .replaceAll('"detail":"64 bytes', `"detail":${JSON.stringify(`${HOSTILE}64 bytes`).slice(0, -1)}`);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function tampered(name: string, edit: (lines: string[]) => string[]): string {
  const lines = readFileSync(RECORDING, 'utf8').trim().split('\n');
  const path = join(dir, name);
  writeFileSync(path, `${edit(lines).join('\n')}\n`);
  return path;
}

describe('a recording that carries terminal escapes', () => {
  test('replay prints its host names and kernel symbols escaped, never raw', async () => {
    const r = await natscope(['replay', hostileCopy(RECORDING, 'hostile.jsonl')]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(`vpn${SHOWN} DROP NETFILTER_DROP at nft_do_chain${SHOWN}\\x9b31m:`);
  });

  test('replay --flows tells the story with the names escaped', async () => {
    const r = await natscope(['replay', hostileCopy(RECORDING, 'hostile.jsonl'), '--flows']);
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stdout).toContain(`vpn${SHOWN} ✗ NETFILTER_DROP`);
  });

  test('replay --json stays exact JSON: escapes that decode to the recorded strings', async () => {
    const path = hostileCopy(RECORDING, 'hostile.jsonl');
    const r = await natscope(['replay', path, '--json']);
    expect(r.stdout).not.toMatch(RAW);
    const hosts = String(r.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).host);
    expect(hosts).toContain(`vpn${HOSTILE}`);
  });

  test('demo --replay narrates the recording with its strings escaped', async () => {
    const r = await natscope(['demo', '--replay', hostileCopy(WALKTHROUGH, 'hostile-walkthrough.jsonl'), '--auto']);
    expect(r.stdout).toContain('Step 10/10');
    expect(r.stdout).toContain(SHOWN);
    // chalk adds no colour without a terminal: any ESC would be the recording's
    expect(r.stdout).not.toMatch(RAW);
    expect(r.stderr).not.toMatch(RAW);
  });

  test.each([
    // JSON.stringify escapes the C0 controls of the kind it quotes; the C1 one is escaped on the way out
    [
      'an unknown kind',
      `{"v":1,"kind":${JSON.stringify(`\u009b2J${HOSTILE}`)}}`,
      'line 2: unknown event kind "\\x9b2J\\u001b[2J\\u001b]0;pwned\\u0007"',
    ],
    ['a line that is not JSON', `\u009b2J${HOSTILE}`, 'line 2: not JSON: "\\x9b2J\\u001b[2J\\u001b]0;pwned\\u0007"'],
  ])('an error that quotes %s shows its control characters escaped', async (_name, line, shown) => {
    const path = join(dir, 'bad-line.jsonl');
    writeFileSync(path, `${readFileSync(RECORDING, 'utf8').split('\n')[0]}\n${line}\n`);
    const r = await natscope(['replay', path]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).not.toMatch(RAW);
    expect(r.stderr).toContain(`bad-line.jsonl: ${shown}`);
  });
});

describe('bad recordings: a clear error or a warning with the line number', () => {
  const first = (lines: string[], edit: (e: Record<string, unknown>) => void) => {
    const i = lines.findIndex((l) => l.includes('"kind":"nat"'));
    const e = JSON.parse(lines[i]!);
    edit(e);
    lines[i] = JSON.stringify(e);
    return lines;
  };
  test.each([
    [
      't of -5',
      (e: Record<string, unknown>) => (e.t = -5),
      /nat event: t should be a whole number of nanoseconds ≥ 0, got -5/,
    ],
    ['t of 1e308', (e: Record<string, unknown>) => (e.t = 1e308), /nat event: t should be .*, got 1e\+308/],
    [
      'an address of 999.999.1.1',
      (e: Record<string, unknown>) => ((e.orig as Record<string, unknown>).src = '999.999.1.1'),
      /nat event: orig\.src should be an IPv4 address \(a\.b\.c\.d, no leading zeros\), got "999\.999\.1\.1"/,
    ],
    [
      'a port of -70000',
      (e: Record<string, unknown>) => ((e.orig as Record<string, unknown>).sport = -70000),
      /nat event: orig\.sport should be a port number \(a whole number 0-65535\), got -70000/,
    ],
  ])('an event with %s is refused, naming its line and field', async (name, edit, message) => {
    const path = tampered(`${name.replace(/\W+/g, '-')}.jsonl`, (lines) => first(lines, edit));
    const r = await natscope(['replay', path]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^natscope: .*: line \\d+: ${message.source}\\n {2}fix: `));
  });

  test('events out of time order are sorted within 2 s, and one later than that is warned about by line', async () => {
    const path = tampered('late.jsonl', (lines) => [...lines, lines[5]!]);
    const r = await natscope(['replay', path, '--flows']);
    expect(r.exitCode).toBe(0);
    const n = readFileSync(path, 'utf8').trim().split('\n').length;
    expect(r.stderr).toMatch(new RegExp(`^natscope: warning: .*late\\.jsonl: line ${n} is out of time order \\(`));
    // the rest is as the original: the same flows
    const original = await natscope(['replay', RECORDING, '--flows']);
    expect(String(r.stdout).split('flow(s):')[1]).toBe(String(original.stdout).split('flow(s):')[1]);
  });
});

describe('malformed nested fields that crashed the frontends (exit 70) before', () => {
  const lines = () => readFileSync(RECORDING, 'utf8').trim().split('\n');
  const broken = (kind: string, edit: (e: Record<string, unknown>) => void) => {
    const e = JSON.parse(lines().find((l) => l.includes(`"kind":"${kind}"`))!);
    edit(e);
    return JSON.stringify(e);
  };
  const cases: [string, () => string, string][] = [
    ['a drop whose packet is {}', () => broken('drop', (e) => (e.packet = {})), 'drop event: packet.proto is missing'],
    [
      'a drop whose packet flags are null',
      () => broken('drop', (e) => ((e.packet as Record<string, unknown>).flags = null)),
      'drop event: packet.flags should be a list, got null',
    ],
    [
      'a ct-new whose status is {}',
      () => broken('ct-new', (e) => (e.status = {})),
      'ct-new event: status should be a list, got {}',
    ],
    ['a status whose lab is {}', () => broken('status', (e) => (e.lab = {})), 'status event: lab.backend is missing'],
    [
      'a status whose lab pods are null',
      () => broken('status', (e) => ((e.lab as Record<string, unknown>).pods = null)),
      'status event: lab.pods should be a list, got null',
    ],
  ];
  // the broken event first: tui --replay reads it before it would need a terminal
  const file = (name: string, line: string) => {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.jsonl`);
    writeFileSync(path, `${line}\n${lines().join('\n')}\n`);
    return path;
  };
  for (const command of [['replay'], ['demo', '--auto', '--replay'], ['tui', '--replay']]) {
    test.each(cases)(
      `natscope ${command.join(' ')}: %s is refused naming line 1 and the field`,
      async (name, line, why) => {
        const r = await natscope([...command, file(name, line())]);
        expect(r.exitCode).toBe(1);
        expect(r.stderr).toMatch(
          new RegExp(`^natscope: .*: line 1: ${why.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n {2}fix: `),
        );
      },
    );
  }
});

describe('files that are not recordings', () => {
  test.each([
    ['a folder', () => dir, /^natscope: .* is a folder, not a recording\n {2}fix: /],
    ['/dev/null', () => '/dev/null', /^natscope: \/dev\/null holds no events: it is empty\n {2}fix: record one with/],
    ['an empty name', () => '', /^natscope: no recording given: the file name is empty\n {2}fix: /],
  ])('replay of %s says what it is, with a fix', async (_name, path, message) => {
    const r = await natscope(['replay', path()]);
    expect(r.exitCode).not.toBe(0);
    expect(r.exitCode).not.toBe(70);
    expect(r.stderr).toMatch(message);
  });

  test('a recording with a UTF-8 byte order mark replays as the same recording', async () => {
    const path = join(dir, 'bom.jsonl');
    writeFileSync(path, `\ufeff${readFileSync(RECORDING, 'utf8')}`);
    const [withBom, plain] = await Promise.all([natscope(['replay', path]), natscope(['replay', RECORDING])]);
    expect(withBom.exitCode).toBe(0);
    expect(withBom.stdout).toBe(plain.stdout);
  });

  test('a process substitution, <(cat FILE), replays like the file', async () => {
    const r = await execa(
      'bash',
      ['-c', `"${process.execPath}" "${CLI}" replay <(cat "$1") --json`, 'bash', RECORDING],
      {
        reject: false,
      },
    );
    expect(r.exitCode).toBe(0);
    expect(String(r.stdout).trim().split('\n')).toHaveLength(readFileSync(RECORDING, 'utf8').trim().split('\n').length);
  });

  // root may read anything: the command runs as the user nobody, to whom the file (or its folder) is closed
  test.each([
    ['a file closed to the user', 'file'],
    ['a file in a folder closed to the user', 'folder'],
  ])('%s is reported as unreadable, not as missing (checked as an unprivileged user)', async (_name, closed) => {
    const folder = join(dir, `closed-${closed}`);
    mkdirSync(folder, { recursive: true });
    chmodSync(dir, 0o755);
    const path = join(folder, 'secret.jsonl');
    writeFileSync(path, readFileSync(RECORDING));
    if (closed === 'file') {
      chmodSync(folder, 0o755);
      chmodSync(path, isRoot ? 0o600 : 0o000);
    } else {
      chmodSync(folder, isRoot ? 0o700 : 0o000);
    }
    const [command, ...args] = isRoot
      ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI]
      : [process.execPath, CLI];
    const r = await execa(command!, [...args, 'replay', path], { reject: false });
    chmodSync(folder, 0o755);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `natscope: cannot read ${path} (permission denied)\n  fix: check its permissions (ls -l ${path}), or replay it as a user who may read it`,
    );
  });

  test('a recording the user may not write is refused up front (checked as an unprivileged user)', () => {
    const closed = join(dir, 'closed');
    mkdirSync(closed, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    const target = join(closed, 'run.jsonl');
    const record = join(import.meta.dirname, '..', '..', 'dist', 'src', 'events', 'record.js');
    const script = `import(process.argv[1]).then((m) => m.openRecording(process.argv[2])).then(() => console.log('opened'), (e) => console.log(e.message))`;
    const [command, ...args] = isRoot
      ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath]
      : [process.execPath];
    if (!isRoot) chmodSync(closed, 0o555);
    const out = execFileSync(command!, [...args, '--input-type=module', '-e', script, record, target], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe(`cannot write the recording ${target}: permission denied`);
  });
});

describe('tui --replay and demo --replay refuse what replay refuses, before anything starts', () => {
  test.each([
    [['tui', '--replay', ''], /^natscope: no recording given: the file name is empty\n/],
    [['tui', '--replay', '-'], /^natscope: the TUI reads its keys from standard input, so it cannot replay/],
    [['tui', '--replay', '/dev/null'], /^natscope: \/dev\/null holds no events: it is empty\n/],
    [['demo', '--replay', ''], /^natscope: no recording given: the file name is empty\n/],
    [['demo', '--replay', '/dev/null'], /^natscope: \/dev\/null holds no events: it is empty\n/],
  ])('natscope %j says so in one line with a fix', async (args, message) => {
    const r = await natscope(args);
    expect(r.exitCode).not.toBe(0);
    expect(r.exitCode).not.toBe(70);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/\n {2}fix: /);
  });

  test('demo --replay of a recording not made on the incident lab names what it lacks', async () => {
    const path = tampered('no-mysql.jsonl', (lines) => lines.map((l) => l.replaceAll('"name":"mysql"', '"name":"db"')));
    const r = await natscope(['demo', '--replay', path, '--auto']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/was not recorded on natscope's incident lab: its lab has no pod mysql, Service mysql\n/);
  });
});
