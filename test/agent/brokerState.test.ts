// The micro-VM lab broker's record: what every command reads to find the lab.
// It names the broker by pid and start time, so a pid the kernel has since
// given to another process (after the broker was killed) is not taken for it.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { brokerAlive, brokerFiles, brokerRunning, brokerStateText, readBroker } from '../../src/agent/brokerState.js';
import { processStart } from '../../src/util/owner.js';
import { tempDirForTest } from '../helpers.js';

const PREFIX = 'bs-';

beforeEach(() => {
  vi.stubEnv('NATSCOPE_STATE_DIR', tempDirForTest('natscope broker state '));
});
afterEach(() => vi.unstubAllEnvs());

function record(text: string): void {
  writeFileSync(brokerFiles(PREFIX).state, text);
}

describe("the broker's record", () => {
  test('names the process by pid and start time, and reads back as written', async () => {
    record(brokerStateText(process.pid, null));
    const b = await readBroker(PREFIX);
    expect(b).toMatchObject({ pid: process.pid, start: processStart(process.pid), socket: null });
    expect(processStart(process.pid)).toBeGreaterThan(0);
    expect(brokerRunning(b!)).toBe(true);
    // booting (no socket yet): not a lab to talk to
    expect(await brokerAlive(PREFIX)).toBe(false);
  });

  test('a broker serving its socket is alive; one whose pid now runs another process is not', async () => {
    const socket = brokerFiles(PREFIX).socket;
    writeFileSync(socket, '');
    record(brokerStateText(process.pid, socket));
    expect(await brokerAlive(PREFIX)).toBe(true);
    // the same pid, started at another time: the kernel gave the number to someone else
    const reused = { pid: process.pid, start: processStart(process.pid)! + 1, socket, startedAt: 'x' };
    record(JSON.stringify(reused));
    expect(brokerRunning((await readBroker(PREFIX))!)).toBe(false);
    expect(await brokerAlive(PREFIX)).toBe(false);
  });

  test('a broker that has exited is not running', async () => {
    const child = spawn('true');
    const pid = child.pid!;
    record(brokerStateText(pid, null));
    await new Promise((resolve) => child.once('exit', resolve));
    expect(brokerRunning((await readBroker(PREFIX))!)).toBe(false);
  });

  test("an older natscope's record, without a start time, is judged by its pid alone", async () => {
    record(JSON.stringify({ pid: process.pid, socket: null, startedAt: '2026-01-01T00:00:00.000Z' }));
    const b = await readBroker(PREFIX);
    expect(b).toEqual({ pid: process.pid, start: null, socket: null, startedAt: '2026-01-01T00:00:00.000Z' });
    expect(brokerRunning(b!)).toBe(true);
  });

  test.each([
    ['not JSON', 'pid 12'],
    ['no record at all', null],
    ['a pid of 0 (a broker that never started)', JSON.stringify({ pid: 0, socket: null, startedAt: 'x' })],
    ['a pid as text', JSON.stringify({ pid: '12', socket: null, startedAt: 'x' })],
    ['a fractional pid', JSON.stringify({ pid: 1.5, socket: null, startedAt: 'x' })],
    ['a socket that is not a path', JSON.stringify({ pid: 12, socket: 3, startedAt: 'x' })],
    ['a negative start', JSON.stringify({ pid: 12, start: -1, socket: null, startedAt: 'x' })],
    ['no start date', JSON.stringify({ pid: 12, socket: null })],
  ])('%s is no broker', async (_what, text) => {
    if (text !== null) record(text);
    expect(await readBroker(PREFIX)).toBeNull();
  });
});
