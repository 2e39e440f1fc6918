// The lab's state and natscope's mark against a hostile or broken state
// directory (root): a forged state, a namespace someone else made under the
// lab's name, planted symlinks, a folder others can write. natscope refuses
// with one line and a fix, writes through nothing, and deletes only
// namespaces it marked.

import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, test } from 'vitest';
import { labNamespaces } from '../../../src/lab/netns/topology.js';
import type { LabState } from '../../../src/lab/netns/state.js';
import { natscope } from '../../cli.js';
import { namedNamespaces, tempDirForTest } from '../../helpers.js';

const lab = (prefix: string, args: string[], env: Record<string, string> = {}) =>
  natscope(['lab', ...args, '--vm', 'off', '--prefix', prefix], { env });

function stateFor(prefix: string, namespaces = labNamespaces(prefix)): LabState {
  return {
    version: 1,
    backend: 'netns',
    prefix,
    namespaces,
    complete: true,
    kubeProxy: { mode: 'iptables', masqueradeAll: false, clusterCIDR: null },
    iptables: 'nft',
    createdAt: new Date().toISOString(),
  };
}

// A state directory of the test's own, root's alone (its parents: the run's temp root, /tmp).
function stateDir(): string {
  const dir = join(tempDirForTest('natscope-statedir-'), 'state');
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}

const made: string[] = [];
async function addNetns(name: string): Promise<void> {
  await execa('ip', ['netns', 'add', name]);
  made.push(name);
}

afterAll(async () => {
  for (const name of made) await execa('ip', ['netns', 'del', name], { reject: false });
});

describe("lab down deletes only namespaces that carry the lab's name and natscope's mark", () => {
  test("a namespace someone else made under one of the lab's names stays, and lab down says so", async () => {
    const prefix = 'natscope-f-';
    const dir = stateDir();
    await addNetns(`${prefix}office`);
    writeFileSync(join(dir, `${prefix}lab.json`), JSON.stringify(stateFor(prefix)));
    const r = await lab(prefix, ['down'], { NATSCOPE_STATE_DIR: dir });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe(
      `natscope: left ${prefix}office in place: the lab's state lists it, but it does not carry natscope's mark, so natscope did not make it\n  fix: if it is not yours either: sudo ip netns del ${prefix}office`,
    );
    expect(namedNamespaces(prefix)).toEqual([`${prefix}office`]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a forged state naming a namespace outside the prefix is refused, and nothing is deleted', async () => {
    const prefix = 'natscope-g-';
    const dir = stateDir();
    await addNetns('natscope-victim');
    const namespaces = [...labNamespaces(prefix).slice(0, 6), 'natscope-victim'];
    writeFileSync(join(dir, `${prefix}lab.json`), JSON.stringify(stateFor(prefix, namespaces)));
    const r = await lab(prefix, ['down'], { NATSCOPE_STATE_DIR: dir });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `natscope: the lab state ${dir}/${prefix}lab.json is not one natscope wrote: namespaces[6] is not ${prefix}pod-mysql\n  fix: remove it (rm ${dir}/${prefix}lab.json); natscope lab down then finds the lab's namespaces by natscope's mark`,
    );
    expect(namedNamespaces('natscope-victim')).toEqual(['natscope-victim']);
  });

  test('a crashed lab whose state is gone is still taken down by its mark, and a new lab up clears it first', async () => {
    const prefix = 'natscope-m-';
    const dir = stateDir();
    expect((await lab(prefix, ['up'], { NATSCOPE_STATE_DIR: dir })).exitCode).toBe(0);
    // the mark, as ip shows it
    const lo = await execa('ip', ['-n', `${prefix}node1`, '-o', 'link', 'show', 'dev', 'lo']);
    expect(lo.stdout).toContain(`alias natscope-lab:${prefix}`);
    writeFileSync(join(dir, 'lost'), '');
    await execa('rm', [join(dir, `${prefix}lab.json`), join(dir, 'lost')]);
    const again = await lab(prefix, ['up'], { NATSCOPE_STATE_DIR: dir });
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain('cleaning up the previous lab first');
    await execa('rm', [join(dir, `${prefix}lab.json`)]);
    const down = await lab(prefix, ['down'], { NATSCOPE_STATE_DIR: dir });
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toBe(`removed ${labNamespaces(prefix).join(', ')}`);
    expect(namedNamespaces(prefix)).toEqual([]);
  });
});

describe('the state directory cannot be turned against root', () => {
  test.each([
    ['0777', 0o777, 'is writable by everyone (mode 0777)'],
    ['0775', 0o775, 'is writable by its group (mode 0775)'],
  ])('a state directory of mode %s is refused with the fix, and no lab is built', async (_, mode, reason) => {
    const prefix = 'natscope-w-';
    const dir = stateDir();
    chmodSync(dir, mode);
    const r = await lab(prefix, ['up'], { NATSCOPE_STATE_DIR: dir });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `natscope: the state directory ${dir} is not safe to use as root: ${dir} ${reason}\n  fix: make it root's alone (chown root:root ${dir} && chmod 0755 ${dir}), or point NATSCOPE_STATE_DIR at a folder only root can write`,
    );
    expect(namedNamespaces(prefix)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a state directory owned by another user is refused', async () => {
    const dir = stateDir();
    chownSync(dir, 65534, 65534);
    const r = await lab('natscope-w-', ['up'], { NATSCOPE_STATE_DIR: dir });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${dir} is owned by uid 65534, not root`);
    expect(namedNamespaces('natscope-w-')).toEqual([]);
  });

  test("symlinks planted at the state's names (the old temp name included) are never written through", async () => {
    const prefix = 'natscope-p-';
    const dir = stateDir();
    const precious = join(tempDirForTest('natscope-precious-'), 'root-only');
    writeFileSync(precious, 'secret\n', { mode: 0o600 });
    symlinkSync(precious, join(dir, `${prefix}lab.json.tmp`));
    symlinkSync(precious, join(dir, `${prefix}lab.lock.tmp`));
    expect((await lab(prefix, ['up'], { NATSCOPE_STATE_DIR: dir })).exitCode).toBe(0);
    expect((await lab(prefix, ['set', 'masquerade-all', 'on'], { NATSCOPE_STATE_DIR: dir })).exitCode).toBe(0);
    expect((await lab(prefix, ['down'], { NATSCOPE_STATE_DIR: dir })).exitCode).toBe(0);
    expect(readFileSync(precious, 'utf8')).toBe('secret\n');
    expect(namedNamespaces(prefix)).toEqual([]);

    // at the state's own name: refused, not followed
    symlinkSync(precious, join(dir, `${prefix}lab.json`));
    const r = await lab(prefix, ['up'], { NATSCOPE_STATE_DIR: dir });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(
      `natscope: ${dir}/${prefix}lab.json is a symbolic link, not a file natscope wrote\n  fix: rm ${dir}/${prefix}lab.json`,
    );
    expect(readFileSync(precious, 'utf8')).toBe('secret\n');
    expect(namedNamespaces(prefix)).toEqual([]);
    // and at the lock's name
    await execa('rm', [join(dir, `${prefix}lab.json`)]);
    symlinkSync(precious, join(dir, `${prefix}lab.lock`));
    const locked = await lab(prefix, ['up'], { NATSCOPE_STATE_DIR: dir });
    expect(locked.stderr).toBe(
      `natscope: the lock ${dir}/${prefix}lab.lock is a symbolic link\n  fix: rm ${dir}/${prefix}lab.lock`,
    );
    expect(readFileSync(precious, 'utf8')).toBe('secret\n');
    expect(existsSync(`/run/netns/${prefix}office`)).toBe(false);
  });
});
