// One temporary root for the whole test run: made before any test worker
// starts, it becomes TMPDIR for every worker and every program a test runs
// (they inherit it), so whatever a test makes lands in it. At the end the
// run fails if a test left anything named natscope in it, or if something
// named natscope appeared since the run began where this run should never
// write: the machine's own temp folder, or natscope's run folder with its
// owner gone (a leak past TMPDIR). Then the root goes.
// Other test runs may share the machine, and they write to the same shared
// folders: if one was seen running meanwhile (a vitest whose TMPDIR is not
// this run's root), what appeared in /tmp cannot be told apart from theirs
// and is only reported.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ownerRunning, parseOwner } from '../src/util/owner.js';
import { runRoot } from '../src/util/rundir.js';

const NATSCOPE = /natscope/i;

function natscopeEntries(dir: string): Set<string> {
  return new Set(existsSync(dir) ? readdirSync(dir).filter((n) => NATSCOPE.test(n)) : []);
}

// '' for a file that cannot be read (a process gone meanwhile)
function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

// Test runs other than this one: vitest processes whose TMPDIR is not this run's root.
function otherRuns(root: string): string[] {
  return readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid) || !read(`/proc/${pid}/cmdline`).includes('vitest')) return false;
    const env = read(`/proc/${pid}/environ`);
    return env !== '' && !env.split('\0').includes(`TMPDIR=${root}`);
  });
}

// A run folder whose owner is gone: nothing should leave one behind.
function orphaned(dir: string): boolean {
  const owner = parseOwner(read(join(dir, 'owner')));
  return owner !== null && !ownerRunning(owner);
}

// Each project (unit, lab, vm) lists this file, and each loads its own copy of
// it: the run's state lives on globalThis, so the first project to start
// makes the root and the last to end checks it.
interface TestRun {
  root: string | undefined;
  outer: string;
  users: number;
  tmpBefore: Set<string>;
  runsBefore: Set<string>;
  othersSeen: Set<string>;
  watch: NodeJS.Timeout | undefined;
}
declare global {
  var natscopeTestRun: TestRun | undefined;
}
globalThis.natscopeTestRun ??= {
  root: undefined,
  outer: '',
  users: 0,
  tmpBefore: new Set(),
  runsBefore: new Set(),
  othersSeen: new Set(),
  watch: undefined,
};
const run: TestRun = globalThis.natscopeTestRun;

export default function setup(): () => void {
  run.users++;
  if (run.root === undefined) {
    run.outer = tmpdir();
    run.tmpBefore = natscopeEntries(run.outer);
    run.runsBefore = natscopeEntries(runRoot());
    const made = mkdtempSync(join(run.outer, 'natscope-test-'));
    run.root = made;
    process.env.TMPDIR = made;
    const look = () => {
      for (const pid of otherRuns(made)) run.othersSeen.add(pid);
    };
    look();
    run.watch = setInterval(look, 1000).unref();
  }
  return () => {
    if (--run.users > 0 || run.root === undefined) return;
    const mine = run.root;
    const { outer, tmpBefore, runsBefore, othersSeen } = run;
    run.root = undefined;
    clearInterval(run.watch);
    process.env.TMPDIR = outer;
    const left = [...natscopeEntries(mine)].map((n) => join(mine, n));
    for (const n of natscopeEntries(runRoot())) {
      if (!runsBefore.has(n) && orphaned(join(runRoot(), n))) left.push(join(runRoot(), n));
    }
    const inTmp = [...natscopeEntries(outer)].filter((n) => !tmpBefore.has(n) && n !== basename(mine));
    rmSync(mine, { recursive: true, force: true });
    if (inTmp.length > 0 && othersSeen.size > 0) {
      process.stderr.write(
        `test run: new in ${outer} since this run began, not counted (${othersSeen.size} processes of other test runs were seen meanwhile): ${inTmp.join(', ')}\n`,
      );
    } else left.push(...inTmp.map((n) => join(outer, n)));
    if (left.length > 0) {
      // vitest prints an error thrown here but still exits 0: the exit code must say it too
      process.exitCode = 1;
      throw new Error(
        `the tests left ${left.length} thing(s) named natscope behind (a test that made it must remove it): ${left.join(', ')}`,
      );
    }
  };
}
