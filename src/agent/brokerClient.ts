// A micro-VM lab kept up across commands (`lab up` … `lab down`): starting
// its broker (a detached natscope process that owns the VM, src/agent/broker.ts),
// reaching it over its socket, and stopping it.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, NatscopeError } from '../errors.js';
import type { IptablesBackend, LabStatus, ProxyMode } from '../events/types.js';
import { ensureStateDir, readState } from '../lab/netns/state.js';
import { onCleanup } from '../util/cleanup.js';
import { killGroup } from '../util/process.js';
import { natscopeCommand } from '../util/runtime.js';
import { brokerAlive, brokerFiles, brokerRunning, brokerStateText, readBroker } from './brokerState.js';
import { StreamClient } from './client.js';

const LAB_UP_TIMEOUT_MS = 10 * 60 * 1000;

export async function connectBroker(prefix: string): Promise<StreamClient> {
  const b = await readBroker(prefix);
  if (!b?.socket)
    throw new NatscopeError(b ? 'the micro-VM lab is still starting' : 'no micro-VM lab is up', {
      hint: b ? 'wait for natscope lab up to finish' : 'sudo natscope lab up',
    });
  const socket = connect(b.socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (e) =>
      reject(
        new NatscopeError(`cannot reach the micro-VM lab: ${e.message}`, {
          hint: 'sudo natscope lab down && sudo natscope lab up',
        }),
      ),
    );
  });
  return new StreamClient('micro-vm', socket, socket, async () => {
    socket.end();
  });
}

export interface BrokerLabOptions {
  prefix: string;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  proxyMode: ProxyMode;
  iptables?: IptablesBackend;
  log: (line: string) => void;
}

// Starts the broker and waits until its lab is up, relaying its progress.
export async function startBroker(options: BrokerLabOptions): Promise<LabStatus> {
  const files = brokerFiles(options.prefix);
  if (await brokerAlive(options.prefix)) {
    options.log('a micro-VM lab is up already: restarting it');
    await stopBroker(options.prefix);
  }
  if ((await readState(options.prefix))?.complete) {
    throw new NatscopeError('a native lab with this prefix is up', {
      hint: 'natscope lab down --vm off first, or use another --prefix',
    });
  }
  ensureStateDir();
  await rm(files.state, { force: true });
  await writeFile(files.log, '');
  const [node, ...natscope] = natscopeCommand();
  const args = [...natscope, 'broker', '--prefix', options.prefix];
  if (options.masqueradeAll) args.push('--masquerade-all');
  if (options.clusterCIDR) args.push('--cluster-cidr', options.clusterCIDR);
  args.push('--proxy-mode', options.proxyMode);
  if (options.iptables) args.push('--iptables', options.iptables);
  const logFd = openSync(files.log, 'a');
  // detached and unreferenced: the broker outlives this command, by design
  const broker = spawn(node!, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  broker.unref();
  // recorded at once, so `lab down` finds a lab that is still booting
  await writeFile(files.state, brokerStateText(broker.pid ?? 0, null));
  let exited = false;
  broker.on('exit', () => {
    exited = true;
  });
  // until the lab is up, an interrupted `lab up` takes the booting VM down with it
  const abandon = onCleanup('stop the micro-VM lab that was starting', async () => {
    killGroup(broker, 'SIGTERM');
    for (let i = 0; i < 150 && !exited; i++) await sleep(200);
    if (!exited) killGroup(broker, 'SIGKILL');
    await rm(files.state, { force: true });
  });
  // relay the broker's progress while the VM boots
  let shown = 0;
  const relay = async () => {
    const text = await readFile(files.log, 'utf8').catch(() => '');
    const lines = text.split('\n');
    for (; shown < lines.length - 1; shown++)
      if (lines[shown]) options.log(lines[shown]!.replace(/^\[[^\]]*\]\s*/, ''));
  };
  const deadline = Date.now() + LAB_UP_TIMEOUT_MS;
  for (;;) {
    await relay();
    if ((await readBroker(options.prefix))?.socket) break;
    if (exited) {
      await relay();
      await abandon.run();
      const tail = (await readFile(files.log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).pop() ?? '';
      throw new NatscopeError(`the micro-VM lab did not come up: ${tail}`, { exitCode: EXIT.vmFailure });
    }
    if (Date.now() > deadline) {
      await abandon.run();
      throw new NatscopeError(`the micro-VM lab was not up within ${LAB_UP_TIMEOUT_MS / 1000} s`, {
        hint: `see ${files.log}`,
        exitCode: EXIT.timeout,
      });
    }
    await sleep(200);
  }
  abandon.cancel();
  const client = await connectBroker(options.prefix);
  try {
    const { lab } = await client.call({ cmd: 'status' });
    if (!lab) throw new NatscopeError('the micro-VM lab came up without its lab', { hint: `see ${files.log}` });
    return lab;
  } finally {
    await client.close();
  }
}

// Takes the micro-VM lab down; false if there was none.
export async function stopBroker(prefix: string): Promise<boolean> {
  const b = await readBroker(prefix);
  if (!b) return false;
  if (brokerRunning(b)) {
    try {
      const client = await connectBroker(prefix);
      await Promise.race([client.call({ cmd: 'shutdown', labDown: true }), sleep(20_000)]).catch(() => undefined);
      await client.close();
    } catch {
      // unreachable: fall through to the signal
    }
    for (let i = 0; i < 100 && brokerRunning(b); i++) await sleep(200);
    if (brokerRunning(b) && (await readFile(`/proc/${b.pid}/cmdline`, 'utf8').catch(() => '')).includes('broker'))
      process.kill(b.pid, 'SIGKILL');
  }
  const files = brokerFiles(prefix);
  await rm(files.state, { force: true });
  await rm(files.socket, { force: true });
  await rm(files.log, { force: true });
  return true;
}
