// A netns lab kept up in the micro-VM across commands (root, qemu under
// emulation): lab up --vm on, then lab down leaves nothing in the state
// directory (the broker's state, socket and log, the lab's lock) and no run
// folder.

import { existsSync, readdirSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { stateDir } from '../../../src/util/paths.js';
import { runRoot } from '../../../src/util/rundir.js';
import { natscope } from '../../cli.js';

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
  expect(JSON.parse(String(status.stdout))).toMatchObject({ prefix: PREFIX, up: true });
  const down = await lab('down');
  expect(down.exitCode, String(down.stderr)).toBe(0);
  expect(down.stdout).toBe('removed the micro-VM lab');
  expect(filesOf()).toEqual([]);
  const runFolders = existsSync(runRoot()) ? readdirSync(runRoot()).filter((d) => d.startsWith('natscope-vm-')) : [];
  expect(runFolders).toEqual([]);
}, 900_000);
