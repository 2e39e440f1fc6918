// Bad inputs a user (or a hostile recording) gives natscope, each with the
// answer natscope must give: exit code, its one `natscope: …` line and its
// `  fix: …` line, exactly. test/cli/badInputs.test.ts runs the unit ones
// through the built CLI (badInputs.lab.test.ts the ones that need root to
// reach their check) and checks that nothing is left; docs/bad-inputs.md is
// this list as a table (npx tsx scripts/docs/bad-inputs.ts writes it; a test
// checks that the committed one matches). No vitest here: the docs script
// reads this file too.

import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { z } from 'zod';
import { ANSWERS } from './badInputAnswers.js';
import { ROOT_ANSWERS } from './badInputRootAnswers.js';

const RECORDINGS = join(import.meta.dirname, '..', 'fixtures', 'recordings');
const INCIDENT = join(RECORDINGS, 'incident.jsonl');
const WALKTHROUGH = join(RECORDINGS, 'walkthrough.jsonl');

export interface BadInput {
  // the input, in words (the table's first column)
  what: string;
  // natscope's arguments: {tmp} is the case's own folder, where `files` are made
  args: string[];
  // files (or folders, FIFOs) made in {tmp} before it runs: name → maker
  files?: Record<string, (path: string) => void>;
  // environment variables ({tmp} as in args); NATSCOPE_STATE_DIR is {tmp}/state unless given
  env?: Record<string, string>;
  // run as an unprivileged user (uid and gid 65534) rather than root
  user?: boolean;
  // needs root to reach its check (lab, trace, vm): run by the lab test
  root?: boolean;
  // runs while the cases' netns lab (prefix bi-, on this host) is up: its check is the lab's
  lab?: boolean;
  // what natscope must answer ({tmp} for the case's folder)
  exit: number;
  error: string;
  fix: string;
}

// ---- recordings, made from the real fixture recordings ----

const lines = (path: string) => readFileSync(path, 'utf8').trim().split('\n');

function text(content: string | Buffer): (path: string) => void {
  return (path) => writeFileSync(path, content);
}

// The incident recording with the first event of `kind` changed by `edit`.
function mutated(kind: string, edit: (e: Record<string, unknown>) => void): (path: string) => void {
  return (path) => {
    const all = lines(INCIDENT);
    const i = all.findIndex((l) => l.includes(`"kind":"${kind}"`));
    const event = z.record(z.string(), z.unknown()).parse(JSON.parse(all[i]!));
    edit(event);
    all[i] = JSON.stringify(event);
    writeFileSync(path, `${all.join('\n')}\n`);
  };
}

// The incident recording with `line` put after its first line.
function withLine(line: string): (path: string) => void {
  return (path) => {
    const all = lines(INCIDENT);
    all.splice(1, 0, line);
    writeFileSync(path, `${all.join('\n')}\n`);
  };
}

// the object under `key`, put back as the copy returned: editing it edits `e`
const record = (e: Record<string, unknown>, key: string) => {
  const inner = z.record(z.string(), z.unknown()).parse(e[key]);
  e[key] = inner;
  return inner;
};

const fifo = (path: string) => execFileSync('mkfifo', [path]);
const folder = (path: string) => mkdirSync(path);
const unreadable = (path: string) => {
  writeFileSync(path, readFileSync(INCIDENT));
  chmodSync(path, 0o000);
};

// Hostile recordings: each is fed to replay, and the first ones to tui --replay and demo --replay too.
const RECORDINGS_BAD: [string, (path: string) => void][] = [
  [
    'a drop whose packet is {}',
    mutated('drop', (e) => {
      e.packet = {};
    }),
  ],
  [
    'a drop whose packet flags are null',
    mutated('drop', (e) => {
      record(e, 'packet').flags = null;
    }),
  ],
  [
    'a drop whose packet flags are a string',
    mutated('drop', (e) => {
      record(e, 'packet').flags = 'SYN';
    }),
  ],
  [
    'a drop whose packet flags are an object',
    mutated('drop', (e) => {
      record(e, 'packet').flags = { SYN: true };
    }),
  ],
  [
    'a ct-new whose status is {}',
    mutated('ct-new', (e) => {
      e.status = {};
    }),
  ],
  [
    'a status whose lab is {}',
    mutated('status', (e) => {
      e.lab = {};
    }),
  ],
  [
    'a status whose lab.pods is null',
    mutated('status', (e) => {
      record(e, 'lab').pods = null;
    }),
  ],
  [
    'a status whose lab.services is null',
    mutated('status', (e) => {
      record(e, 'lab').services = null;
    }),
  ],
  ['a line that is not JSON', withLine('hello')],
  ['a JSON array for an event', withLine('[1,2,3]')],
  ['an unknown event kind', withLine('{"v":1,"kind":"nuke","t":0,"host":"x","netns":0}')],
  ['an event newer than natscope (v 3)', withLine('{"v":3,"kind":"nat","t":0,"host":"x","netns":0}')],
  ['deeply nested JSON (100,000 brackets)', withLine(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)],
  [
    'a nat event with t of -5',
    mutated('nat', (e) => {
      e.t = -5;
    }),
  ],
  [
    'a nat event with t of 1e308',
    mutated('nat', (e) => {
      e.t = 1e308;
    }),
  ],
  [
    'a nat event with t as a string',
    mutated('nat', (e) => {
      e.t = '41151758200';
    }),
  ],
  [
    'a nat event with an address of 999.999.1.1',
    mutated('nat', (e) => {
      record(e, 'orig').src = '999.999.1.1';
    }),
  ],
  [
    'a nat event with a leading-zero address',
    mutated('nat', (e) => {
      record(e, 'orig').src = '010.0.0.1';
    }),
  ],
  [
    'a nat event with a port of -70000',
    mutated('nat', (e) => {
      record(e, 'orig').sport = -70000;
    }),
  ],
  [
    'a nat event with a port of 1.5',
    mutated('nat', (e) => {
      record(e, 'orig').dport = 1.5;
    }),
  ],
  [
    'a nat event with orig null',
    mutated('nat', (e) => {
      e.orig = null;
    }),
  ],
  [
    'a nat event with manip "XNAT"',
    mutated('nat', (e) => {
      e.manip = 'XNAT';
    }),
  ],
  [
    'a nat event with proto "sctp"',
    mutated('nat', (e) => {
      e.proto = 'sctp';
    }),
  ],
  [
    'a nat event with host 42',
    mutated('nat', (e) => {
      e.host = 42;
    }),
  ],
  [
    'a nat event with netns -1',
    mutated('nat', (e) => {
      e.netns = -1;
    }),
  ],
  [
    'an event with v "1" (a string)',
    mutated('nat', (e) => {
      e.v = '1';
    }),
  ],
  [
    'an event with v 0',
    mutated('nat', (e) => {
      e.v = 0;
    }),
  ],
  [
    'an event with no kind',
    mutated('nat', (e) => {
      delete e.kind;
    }),
  ],
  [
    'a drop with a reason code of "12"',
    mutated('drop', (e) => {
      e.reasonCode = '12';
    }),
  ],
  [
    'a request with an outcome of "maybe"',
    mutated('request', (e) => {
      e.outcome = 'maybe';
    }),
  ],
  [
    'a request with a latency of -1 ms',
    mutated('request', (e) => {
      e.latencyMs = -1;
    }),
  ],
  [
    'a config with kubeProxy null',
    mutated('config', (e) => {
      e.kubeProxy = null;
    }),
  ],
  [
    'a config with a clusterCIDR of 010.244.0.0/16',
    mutated('config', (e) => {
      record(e, 'kubeProxy').clusterCIDR = '010.244.0.0/16';
    }),
  ],
  [
    'a status with an unknown state',
    mutated('status', (e) => {
      e.state = 'exploding';
    }),
  ],
  [
    'a line cut in the middle (truncated recording)',
    (path) => writeFileSync(path, readFileSync(INCIDENT, 'utf8').slice(0, 3000)),
  ],
  ['a line of 2 MB with no line break', text(Buffer.alloc(2 << 20, 0x61))],
  ['binary junk', text(Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x7f, 0x0a]))],
  ['a gzip-compressed recording', (path) => writeFileSync(path, execFileSync('gzip', ['-c', INCIDENT]))],
  ['a UTF-16 recording', text(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lines(INCIDENT)[0]!, 'utf16le')]))],
  ['an empty file', text('')],
  ['only blank lines', text('\n\n  \n')],
];

// The frontends that read a recording to its end without a terminal (the TUI
// checks a recording's first event before it needs one, its cases are below;
// what it does with the rest is test/events/fuzz.test.ts's and test/tui's).
const FRONTENDS: [string, (file: string) => string[]][] = [
  ['replay', (file) => ['replay', file]],
  ['demo --replay', (file) => ['demo', '--replay', file, '--auto']],
];

// Each case's answer (test/cli/badInputAnswers.ts, badInputRootAnswers.ts for the root cases), by its words; none: an empty one, which the tests refuse.
function answer(what: string): Pick<BadInput, 'exit' | 'error' | 'fix'> {
  const [exit, error, fix] = ANSWERS[what] ?? ROOT_ANSWERS[what] ?? [0, '', ''];
  return { exit, error, fix };
}

// ---- the cases ----

export const BAD_INPUTS: BadInput[] = [
  // recordings, in every frontend for the first eight, in replay for the rest
  ...RECORDINGS_BAD.flatMap(([what, make], i) =>
    (i < 8 ? FRONTENDS : FRONTENDS.slice(0, 1)).map(
      ([frontend, args]): BadInput => ({
        what: `${frontend} of a recording with ${what}`,
        args: args('{tmp}/rec.jsonl'),
        files: { 'rec.jsonl': make },
        ...answer(`${frontend} of a recording with ${what}`),
      }),
    ),
  ),
  // ---- command lines ----
  c('an unknown command', ['bogus']),
  c('a misspelt command', ['trce']),
  c('an unknown global option', ['--bogus']),
  c('replay with no file', ['replay']),
  c('replay with two files', ['replay', INCIDENT, INCIDENT]),
  c('replay with a misspelt option', ['replay', INCIDENT, '--jsn']),
  c('replay --speed abc', ['replay', INCIDENT, '--speed', 'abc']),
  c('replay --speed -1', ['replay', INCIDENT, '--speed', '-1']),
  c('replay --speed with an empty value', ['replay', INCIDENT, '--speed', '']),
  c('replay --speed Infinity', ['replay', INCIDENT, '--speed', 'Infinity']),
  c('replay --speed NaN', ['replay', INCIDENT, '--speed', 'NaN']),
  c('replay --speed with no value', ['replay', INCIDENT, '--speed']),
  c('replay of an empty file name', ['replay', '']),
  c('replay of a file that does not exist', ['replay', '{tmp}/missing.jsonl']),
  c('replay of a folder', ['replay', '{tmp}/dir'], { files: { dir: folder } }),
  c('replay of /dev/null', ['replay', '/dev/null']),
  c('replay of a path through a file', ['replay', '{tmp}/rec.jsonl/x.jsonl'], { files: { 'rec.jsonl': text('') } }),
  c('replay of a symlink loop', ['replay', '{tmp}/loop'], { files: { loop: (p) => symlinkSync(p, p) } }),
  c('replay of a file the user may not read', ['replay', '{tmp}/secret.jsonl'], {
    files: { 'secret.jsonl': unreadable },
    user: true,
  }),
  c('replay - of an empty standard input', ['replay', '-']),
  c('replay of a UTF-8 recording whose first event is bad after a BOM', ['replay', '{tmp}/bom.jsonl'], {
    files: { 'bom.jsonl': text(`\ufeff{"v":1,"kind":"nat"}\n`) },
  }),
  c('tui --replay with no file', ['tui', '--replay']),
  c('tui --replay of a file that does not exist', ['tui', '--replay', '{tmp}/missing.jsonl']),
  c('tui --replay of a folder', ['tui', '--replay', '{tmp}/dir'], { files: { dir: folder } }),
  c('tui --replay of a recording whose first line is not JSON', ['tui', '--replay', '{tmp}/rec.jsonl'], {
    files: { 'rec.jsonl': text('hello\n') },
  }),
  c('tui --replay of an empty recording', ['tui', '--replay', '{tmp}/rec.jsonl'], { files: { 'rec.jsonl': text('') } }),
  c('tui --replay of a gzip-compressed recording', ['tui', '--replay', '{tmp}/rec.jsonl'], {
    files: { 'rec.jsonl': (path) => writeFileSync(path, execFileSync('gzip', ['-c', INCIDENT])) },
  }),
  c('tui --replay of a good recording without a terminal', ['tui', '--replay', INCIDENT]),
  c('tui --speed x', ['tui', '--replay', INCIDENT, '--speed', 'x']),
  c('tui --speed -2', ['tui', '--replay', INCIDENT, '--speed', '-2']),
  c('tui --probes nat,bogus', ['tui', '--probes', 'nat,bogus']),
  c('tui --vm maybe', ['tui', '--vm', 'maybe']),
  c('tui --lab minikube', ['tui', '--lab', 'minikube']),
  c('tui --detail lots', ['tui', '--detail', 'lots']),
  c('tui --attach-timeout 0', ['tui', '--attach-timeout', '0']),
  c('tui --attach-timeout with --replay', ['tui', '--replay', INCIDENT, '--attach-timeout', '600']),
  c('tui --prefix Bad_Prefix', ['tui', '--prefix', 'Bad_Prefix']),
  c('the live tui as an unprivileged user', ['tui'], { user: true }),
  c('demo --step 0', ['demo', '--step', '0', '--replay', WALKTHROUGH]),
  c('demo --step 11', ['demo', '--step', '11', '--replay', WALKTHROUGH]),
  c('demo --step 1.5', ['demo', '--step', '1.5', '--replay', WALKTHROUGH]),
  c('demo --step x', ['demo', '--step', 'x']),
  c('demo --record and --replay together', ['demo', '--record', '{tmp}/out.jsonl', '--replay', WALKTHROUGH]),
  c('demo --attach-timeout x', ['demo', '--attach-timeout', 'x']),
  c('demo --attach-timeout with --replay', ['demo', '--replay', WALKTHROUGH, '--auto', '--attach-timeout', '600']),
  c('demo --replay of a file that does not exist', ['demo', '--replay', '{tmp}/missing.jsonl', '--auto']),
  c('demo --vm sometimes', ['demo', '--vm', 'sometimes']),
  c('demo --lab minikube', ['demo', '--lab', 'minikube']),
  c('the live demo as an unprivileged user', ['demo', '--auto'], { user: true }),
  c('trace --probes nat,bogus', ['trace', '--probes', 'nat,bogus']),
  c('trace --probes with an empty list', ['trace', '--probes', '']),
  c('trace --probes ","', ['trace', '--probes', ',']),
  c('trace --duration 0', ['trace', '--duration', '0']),
  c('trace --duration -1', ['trace', '--duration', '-1']),
  c('trace --duration abc', ['trace', '--duration', 'abc']),
  c('trace --duration 1e400', ['trace', '--duration', '1e400']),
  c('trace --detail lots', ['trace', '--detail', 'lots']),
  c('trace --detail -5', ['trace', '--detail', '-5']),
  c('trace --detail 1.5', ['trace', '--detail', '1.5']),
  c('trace --attach-timeout 0', ['trace', '--attach-timeout', '0']),
  c('trace --attach-timeout x', ['trace', '--attach-timeout', 'x']),
  c('trace --vm maybe', ['trace', '--vm', 'maybe']),
  c('trace --lab minikube', ['trace', '--lab', 'minikube']),
  c('trace --prefix Bad_Prefix', ['trace', '--prefix', 'Bad_Prefix']),
  c('trace --prefix with an empty value', ['trace', '--prefix', '']),
  c('trace --prefix ../x-', ['trace', '--prefix', '../x-']),
  c('trace --prefix of 40 characters', ['trace', '--prefix', `${'a'.repeat(39)}-`]),
  c('trace as an unprivileged user', ['trace'], { user: true }),
  c('trace --record with an empty name', ['trace', '--record', '', '--vm', 'off'], { root: true }),
  c('trace --record in a folder that does not exist', ['trace', '--record', '{tmp}/no/run.jsonl', '--vm', 'off'], {
    root: true,
  }),
  c('trace --record of a folder', ['trace', '--record', '{tmp}/dir', '--vm', 'off'], {
    files: { dir: folder },
    root: true,
  }),
  c('trace --record /dev/full', ['trace', '--record', '/dev/full', '--vm', 'off'], { root: true }),
  c('trace --prefix of a lab that is not up', ['trace', '--prefix', 'bi-', '--vm', 'off', '--probes', 'drop'], {
    root: true,
  }),
  // ---- trace --rules ----
  c('trace --rules with no --request', ['trace', '--rules']),
  c('trace --request with no --rules', ['trace', '--request', 'mysql']),
  c('trace --timeout with no --rules', ['trace', '--timeout', '2']),
  c('trace --rules --request with no target', ['trace', '--rules', '--request']),
  c('trace --rules --request with an empty target', rules('')),
  c('trace --rules --timeout 0', rules('mysql', '--timeout', '0')),
  c('trace --rules --timeout -1', rules('mysql', '--timeout', '-1')),
  c('trace --rules --timeout abc', rules('mysql', '--timeout', 'abc')),
  c('trace --rules --timeout 600', rules('mysql', '--timeout', '600')),
  c('trace --rules with --probes', rules('mysql', '--probes', 'drop')),
  c('trace --rules with --record', rules('mysql', '--record', '{tmp}/run.jsonl')),
  c('trace --rules with --all-netns', rules('mysql', '--all-netns')),
  c('trace --rules with --attach-timeout but no --events', rules('mysql', '--attach-timeout', '300')),
  c('trace --rules with --duration', rules('mysql', '--duration', '5')),
  c('trace --rules on the kind lab in the micro-VM', rules('mysql', '--lab', 'kind', '--vm', 'on')),
  c('trace --rules as an unprivileged user', rules('mysql'), { user: true }),
  c('trace --rules with no lab up', rules('mysql', '--prefix', 'bi-', '--vm', 'off'), { root: true }),
  c('trace --rules of an unknown Service', rules('redis', '--prefix', 'bi-', '--vm', 'off'), { root: true, lab: true }),
  c('trace --rules of an unknown pod', rules('pod/redis', '--prefix', 'bi-', '--vm', 'off'), { root: true, lab: true }),
  c('doctor with an argument', ['doctor', 'now']),
  c('doctor --bogus', ['doctor', '--bogus']),
  // ---- lab ----
  c('lab up --vm sometimes', ['lab', 'up', '--vm', 'sometimes']),
  c('lab up --lab minikube', ['lab', 'up', '--lab', 'minikube']),
  c('lab up --prefix Bad_Prefix', ['lab', 'up', '--prefix', 'Bad_Prefix']),
  c('lab up --prefix with no value', ['lab', 'up', '--prefix']),
  c('lab up --iptables nf', ['lab', 'up', '--iptables', 'nf']),
  c('lab up --lab kind --iptables legacy', ['lab', 'up', '--lab', 'kind', '--iptables', 'legacy'], { user: true }),
  c('lab up --cluster-cidr 010.244.0.0/16 (leading zero)', labUp('--cluster-cidr', '010.244.0.0/16'), { user: true }),
  c('lab up --cluster-cidr 10.244.0.1/16 (host bits set)', labUp('--cluster-cidr', '10.244.0.1/16'), { user: true }),
  c('lab up --cluster-cidr 0.0.0.0/0', labUp('--cluster-cidr', '0.0.0.0/0'), { user: true }),
  c('lab up --cluster-cidr 10.244.0.0/33', labUp('--cluster-cidr', '10.244.0.0/33'), { user: true }),
  c('lab up --cluster-cidr 10.244.0.0 (no length)', labUp('--cluster-cidr', '10.244.0.0'), { user: true }),
  c('lab up --cluster-cidr 300.1.1.0/24', labUp('--cluster-cidr', '300.1.1.0/24'), { user: true }),
  c('lab up --cluster-cidr garbage', labUp('--cluster-cidr', 'garbage'), { user: true }),
  c('lab up as an unprivileged user', ['lab', 'up'], { user: true }),
  c('lab set with no value', ['lab', 'set', 'masquerade-all']),
  c('lab set masquerade-all maybe', labSet('masquerade-all', 'maybe'), { root: true }),
  c('lab set an unknown setting', labSet('hairpin', 'on'), { root: true }),
  c('lab set cluster-cidr 010.244.0.0/16 (leading zero)', labSet('cluster-cidr', '010.244.0.0/16'), { root: true }),
  c('lab set cluster-cidr 0.0.0.0/0', labSet('cluster-cidr', '0.0.0.0/0'), { root: true }),
  c('lab set cluster-cidr 10.244.0.1/16 (host bits set)', labSet('cluster-cidr', '10.244.0.1/16'), { root: true }),
  c('lab set cluster-cidr 10.244.0.0/-1', labSet('cluster-cidr', '10.244.0.0/-1'), { root: true }),
  c('lab set cluster-cidr with an empty value', labSet('cluster-cidr', ''), { root: true }),
  c('lab set cluster-cidr with no lab up', labSet('cluster-cidr', '10.244.0.0/16'), { root: true }),
  c('lab request with no target', ['lab', 'request']),
  c('lab request --timeout 0', ['lab', 'request', 'nginx', '--timeout', '0']),
  c('lab request --timeout x', ['lab', 'request', 'nginx', '--timeout', 'x']),
  c('lab request of an unknown Service', labCmd('request', 'redis'), { root: true, lab: true }),
  c('lab request of an unknown pod', labCmd('request', 'pod/redis'), { root: true, lab: true }),
  c('lab request of an empty target', labCmd('request', ''), { root: true, lab: true }),
  c('lab request with no lab up', labCmd('request', 'nginx'), { root: true }),
  c('lab load --workers 0.5', ['lab', 'load', 'nginx', '--workers', '0.5']),
  c('lab load --workers 0', ['lab', 'load', 'nginx', '--workers', '0']),
  c('lab load --workers 100000', ['lab', 'load', 'nginx', '--workers', '100000']),
  c('lab load --workers -1', ['lab', 'load', 'nginx', '--workers', '-1']),
  c('lab load --seconds 0', ['lab', 'load', 'nginx', '--seconds', '0']),
  c('lab load --seconds with an empty value', ['lab', 'load', 'nginx', '--seconds', '']),
  c('lab load of an unknown target', labCmd('load', 'redis'), { root: true, lab: true }),
  c('lab ping of an unknown target', labCmd('ping', 'redis'), { root: true, lab: true }),
  c('lab rules of node3', labCmd('rules', 'node3'), { root: true, lab: true }),
  c('lab routes of an unknown host', labCmd('routes', 'router'), { root: true, lab: true }),
  c('lab conntrack of an unknown node', labCmd('conntrack', 'node9'), { root: true, lab: true }),
  c('lab rules with no node', ['lab', 'rules']),
  c('lab status as an unprivileged user', ['lab', 'status'], { user: true }),
  // ---- the micro-VM ----
  c('vm run with no command', ['vm', 'run']),
  c('vm run --timeout 0', ['vm', 'run', '--timeout', '0', '--', 'true']),
  c('vm run --timeout x', ['vm', 'run', '--timeout', 'x', '--', 'true']),
  c('vm run --stack debian14', ['vm', 'run', '--stack', 'debian14', '--', 'true']),
  c('vm setup --stack debian14', ['vm', 'setup', '--stack', 'debian14']),
  c('vm run --share of a file', ['vm', 'run', '--share', '/etc/hostname', '--', 'true'], { root: true }),
  c('vm run --share of a folder that does not exist', ['vm', 'run', '--share', '{tmp}/none', '--', 'true'], {
    root: true,
  }),
  c('vm run --share of a relative path', ['vm', 'run', '--share', 'out', '--', 'true'], {
    files: { out: folder },
    root: true,
  }),
  c('vm run --share with an empty path', ['vm', 'run', '--share', '', '--', 'true'], { root: true }),
  c('vm run as an unprivileged user', ['vm', 'run', '--', 'true'], { user: true }),
  // ---- environment variables natscope reads ----
  c('NATSCOPE_VM_STACK=debian14', ['vm', 'run', '--', 'true'], { env: { NATSCOPE_VM_STACK: 'debian14' }, root: true }),
  c('NATSCOPE_STATE_DIR a file, for lab status', labCmd('status'), {
    env: { NATSCOPE_STATE_DIR: '{tmp}/file' },
    files: { file: text('') },
    root: true,
  }),
  c('NATSCOPE_STATE_DIR a file, for lab down', labCmd('down'), {
    env: { NATSCOPE_STATE_DIR: '{tmp}/file' },
    files: { file: text('') },
    root: true,
  }),
  c('NATSCOPE_STATE_DIR world-writable', labCmd('down'), {
    env: { NATSCOPE_STATE_DIR: '{tmp}/open' },
    files: {
      open: (p) => {
        mkdirSync(p);
        chmodSync(p, 0o777);
      },
    },
    root: true,
  }),
  c('NATSCOPE_STATE_DIR a symlink', labCmd('down'), {
    env: { NATSCOPE_STATE_DIR: '{tmp}/link' },
    files: { link: (p) => symlinkSync('/tmp', p) },
    root: true,
  }),
  c('NATSCOPE_STATE_DIR owned by another user', labCmd('down'), {
    env: { NATSCOPE_STATE_DIR: '{tmp}/theirs' },
    files: {
      theirs: (p) => {
        mkdirSync(p, { mode: 0o700 });
        execFileSync('chown', ['65534:65534', p]);
      },
    },
    root: true,
  }),
  c('NATSCOPE_BPFTRACE naming no file', ['trace', '--vm', 'off', '--probes', 'drop'], {
    env: { NATSCOPE_BPFTRACE: '{tmp}/no-bpftrace' },
    root: true,
  }),
  c('NATSCOPE_BPFTRACE naming a program that is not bpftrace', ['trace', '--vm', 'off', '--probes', 'drop'], {
    env: { NATSCOPE_BPFTRACE: '/bin/false' },
    root: true,
  }),
  c('NATSCOPE_VM_ACCEL=warp', ['vm', 'run', '--', 'true'], { env: { NATSCOPE_VM_ACCEL: 'warp' }, root: true }),
];

// One case; its answer is filled in below.
function c(what: string, args: string[], more: Partial<BadInput> = {}): BadInput {
  return { what, args, ...more, ...answer(what) };
}
// a lab command on the netns lab of the cases' own prefix, on this host
function labCmd(command: string, ...args: string[]): string[] {
  return ['lab', command, ...args, '--vm', 'off', '--prefix', 'bi-'];
}
// trace --rules of a target, with more options
function rules(target: string, ...args: string[]): string[] {
  return ['trace', '--rules', '--request', target, ...args];
}
function labUp(...args: string[]): string[] {
  return labCmd('up', ...args);
}
function labSet(key: string, value: string): string[] {
  return labCmd('set', key, value);
}

// Used by the docs script and the tests alike: the fixture recordings some cases copy.
export const FIXTURE_RECORDINGS = { INCIDENT, WALKTHROUGH };
export { fifo, folder, symlinkSync, unreadable };
