// A netns lab kept up in the micro-VM across commands (root, qemu under
// emulation): lab up --vm on, then lab down leaves nothing in the state
// directory (the broker's state, socket and log, the lab's lock) and no run
// folder; and the same in kube-proxy's nftables mode, whose rules the
// lab subcommands reach through the broker.

import { existsSync, readdirSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { LabStatusSchema, RequestEventSchema } from '../../../src/events/types.js';
import { stateDir } from '../../../src/util/paths.js';
import { runRoot } from '../../../src/util/rundir.js';
import { jsonOutput, natscope } from '../../cli.js';

const PREFIX = 'natscope-mv-';
const lab = (...args: string[]) => natscope(['lab', ...args, '--vm', 'on', '--prefix', PREFIX], { timeout: 600_000 });
const filesOf = () => (existsSync(stateDir()) ? readdirSync(stateDir()).filter((f) => f.includes(PREFIX)) : []);

afterAll(async () => {
  await lab('down');
});

test('lab up in the micro-VM, then lab down: no broker file, log, lock or run folder is left', async () => {
  const up = await lab('up');
  expect(up.exitCode, String(up.stderr)).toBe(0);
  expect(filesOf().sort()).toEqual([`${PREFIX}vm.json`, `${PREFIX}vm.log`, `${PREFIX}vm.sock`]);
  const status = await lab('status', '--json');
  expect(jsonOutput(LabStatusSchema, status.stdout)).toMatchObject({ prefix: PREFIX, up: true });
  const down = await lab('down');
  expect(down.exitCode, String(down.stderr)).toBe(0);
  expect(down.stdout).toBe('removed the micro-VM lab');
  expect(filesOf()).toEqual([]);
  const runFolders = existsSync(runRoot()) ? readdirSync(runRoot()).filter((d) => d.startsWith('natscope-vm-')) : [];
  expect(runFolders).toEqual([]);
}, 900_000);

test('lab up --proxy-mode nftables in the micro-VM: the nodes hold table ip kube-proxy, lab set re-syncs it, mysql is fixed', async () => {
  const up = await lab('up', '--proxy-mode', 'nftables');
  expect(up.exitCode, String(up.stderr)).toBe(0);
  try {
    const status = jsonOutput(LabStatusSchema, (await lab('status', '--json')).stdout);
    expect(status.kubeProxy).toEqual({ mode: 'nftables', masqueradeAll: false, clusterCIDR: null });
    const rules = String((await lab('rules', 'node1')).stdout);
    expect(rules).toMatch(/^table ip kube-proxy \{/);
    expect(rules).not.toMatch(/ip daddr 10\.96\.207\.61 jump mark-for-masquerade/);
    expect((await lab('request', 'mysql', '--timeout', '2')).exitCode).toBe(1);
    expect((await lab('set', 'masquerade-all', 'on')).exitCode).toBe(0);
    expect(String((await lab('rules', 'node1')).stdout)).toMatch(/ip daddr 10\.96\.207\.61 jump mark-for-masquerade/);
    const fixed = await lab('request', 'mysql', '--json');
    expect(fixed.exitCode).toBe(0);
    expect(jsonOutput(RequestEventSchema, fixed.stdout).peer).toMatch(/^10\.0\.1\.11:\d+$/);
  } finally {
    const down = await lab('down');
    expect(down.stdout).toBe('removed the micro-VM lab');
  }
  expect(filesOf()).toEqual([]);
}, 900_000);
