// Where the kernel side runs, and how a command reaches it.
//   native    the lab and the tracer in this process (kernel function probes attach here)
//   micro-vm  the lab and the tracer in a throw-away VM (they do not):
//             - one command's own VM (trace, tui, demo), gone when it ends;
//             - or a lab kept up across commands (lab up … lab down) by a
//               small broker process that owns the VM and serves a socket.
// --vm auto picks native when a kfunc attaches here, else the micro-VM.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError, EXIT } from '../errors.js';
import type { LabStatus, NatscopeEvent, StatusEvent } from '../events/types.js';
import { NetnsLab } from '../lab/netns/lab.js';
import { DEFAULT_PREFIX } from '../lab/netns/topology.js';
import { holdLabLock } from '../lab/netns/lock.js';
import { ensureStateDir, stateDir, readState } from '../lab/netns/state.js';
import { functionProbesAttach, type AttachResult } from '../tracer/capabilities.js';
import { needsFunctionProbes, parseProbeList } from '../tracer/probes.js';
import { onCleanup } from '../util/cleanup.js';
import { isAlive, killGroup } from '../util/process.js';
import { writeFileSafely } from '../util/safeFiles.js';
import { natscopeCommand } from '../util/runtime.js';
import { vmPrerequisites } from '../vm/prereqs.js';
import type { Lab } from '../lab/lab.js';
import { startVm } from '../vm/run.js';
import { Agent, type Where } from './agent.js';
import { InProcessClient, StreamClient, type AgentClient, type EventListener } from './client.js';

export type Placement = 'auto' | 'on' | 'off';

// What the kernel allows does not change within a boot: remember the answer.
async function functionProbesHere(): Promise<AttachResult> {
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const cache = join(stateDir(), 'function-probes.json');
  try {
    const saved = JSON.parse(await readFile(cache, 'utf8')) as AttachResult & { bootId: string };
    if (bootId && saved.bootId === bootId) return saved;
  } catch {
    // not cached yet
  }
  const result = await functionProbesAttach();
  // only a success is remembered: a failure may be mended (bpftrace installed) before the next boot
  if (result.ok) {
    try {
      await writeFileSafely(ensureStateDir(), 'function-probes.json', JSON.stringify({ ...result, bootId }));
    } catch {
      // not remembered: asked again next time
    }
  }
  return result;
}

export async function decidePlacement(
  vm: Placement,
  functionProbesNeeded: boolean,
  log: (line: string) => void,
): Promise<Where> {
  if (process.env.NATSCOPE_IN_VM) return 'native'; // already inside the micro-VM
  if (vm === 'off') return 'native';
  if (vm === 'on') return 'micro-vm';
  if (!functionProbesNeeded) return 'native';
  if (process.getuid?.() !== 0) throw new NatscopeError('tracing needs root', { hint: 'run with sudo' });
  const probes = await functionProbesHere();
  if (probes.ok) return 'native';
  const vm_ = await vmPrerequisites();
  if (vm_.ready) {
    log(
      `kernel function probes cannot attach on this kernel (${probes.detail}): running the lab and the probes in the micro-VM`,
    );
    return 'micro-vm';
  }
  const missing = vm_.checks.find((c) => !c.ok && c.name !== 'vm-kernel');
  throw new NatscopeError(
    `kernel function probes cannot attach here (${probes.detail}) and the micro-VM is not available: ${missing?.detail ?? 'not set up'}`,
    {
      hint: `${missing?.fix ?? 'sudo natscope vm setup'}; or trace drops only, which needs only a tracepoint: --probes drop`,
    },
  );
}

export interface SessionOptions {
  vm: Placement;
  // the kind lab runs where its cluster is (the workshop VM): never in the micro-VM
  lab?: 'netns' | 'kind';
  prefix?: string;
  masqueradeAll?: boolean;
  clusterCIDR?: string | null;
  // start tracing these right away (null: no tracer)
  probes: string[] | null;
  allNetns?: boolean;
  // events per CPU and second reported whole (0 = all; default: the tracer's)
  detail?: number;
  onEvent: EventListener;
  log: (line: string) => void;
  attachTimeoutMs?: number;
  // host folders the micro-VM may write to (at the same path)
  shares?: string[];
}

export interface Session {
  client: AgentClient;
  where: Where;
  lab: LabStatus | null;
  // this session brought the lab up, so closing it takes the lab down
  owned: boolean;
  // settles, with the reason, if the kernel side ends on its own (the VM or
  // the agent died, bpftrace exited): a frontend then stops instead of waiting
  ended: Promise<string>;
  // after close: what this session started that still exists (nothing, unless something leaked)
  leftovers(): Promise<string[]>;
  // stops the tracer, and the lab if this session brought it up
  close(): Promise<void>;
}

// A lab plus (optionally) a tracer, for one frontend: trace, tui, demo.
export async function openSession(options: SessionOptions): Promise<Session> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const probes = options.probes ? parseProbeList(options.probes.join(',')) : null;
  if (options.lab === 'kind') {
    const { openKindLab } = await import('../lab/kind/lab.js');
    return openInProcess(await openKindLab({ prefix }), false, probes, options);
  }
  const where = await decidePlacement(options.vm, probes ? needsFunctionProbes(probes) : true, options.log);
  if (where === 'native') return openNative(prefix, probes, options);
  if (await brokerAlive(prefix)) return openViaBroker(prefix, probes, options);
  return openEphemeralVm(prefix, probes, options);
}

async function openNative(prefix: string, probes: string[] | null, options: SessionOptions): Promise<Session> {
  if ((await readState(prefix))?.complete) {
    options.log(`using the lab that is up (prefix ${prefix})`);
    return openInProcess(await NetnsLab.open(prefix), false, probes, options);
  }
  options.log('bringing the netns lab up');
  const lab = await NetnsLab.up({
    prefix,
    masqueradeAll: options.masqueradeAll ?? false,
    clusterCIDR: options.clusterCIDR ?? null,
    log: options.log,
  });
  return openInProcess(lab, true, probes, options);
}

// The agent in this process, on a lab that is up; `owned`: close takes the lab down.
async function openInProcess(
  lab: Lab,
  owned: boolean,
  probes: string[] | null,
  options: SessionOptions,
): Promise<Session> {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await agent.shutdown(owned);
  };
  const client = new InProcessClient('native', close);
  client.onEvent(options.onEvent);
  const agent = new Agent({
    lab,
    where: 'native',
    emit: client.emit,
    log: options.log,
    attachTimeoutMs: options.attachTimeoutMs,
  });
  client.agent = agent;
  const cleanup = onCleanup('stop the session', close);
  try {
    if (probes) await agent.startTracing({ probes, allNetns: options.allNetns, detail: options.detail }, false);
    await agent.announce();
  } catch (error) {
    await cleanup.run();
    throw error;
  }
  return {
    client,
    where: 'native',
    lab: await lab.status(),
    owned,
    ended: endedOf(client),
    async close() {
      await cleanup.run();
    },
    async leftovers() {
      const left: string[] = [];
      const pid = agent.lastTracerPid;
      if (pid !== null && isAlive(pid)) left.push(`bpftrace (pid ${pid})`);
      if (owned && (await lab.status()).up) left.push(`the ${lab.backend} lab`);
      return left;
    },
  };
}

export function agentArgs(
  prefix: string,
  options: Pick<SessionOptions, 'masqueradeAll' | 'clusterCIDR' | 'allNetns' | 'detail' | 'attachTimeoutMs'> & {
    probes?: string[] | null;
  },
): string[] {
  const args = [...natscopeCommand(), 'agent', '--stdio', '--prefix', prefix];
  if (options.attachTimeoutMs) args.push('--attach-timeout', String(Math.ceil(options.attachTimeoutMs / 1000)));
  if (options.masqueradeAll) args.push('--masquerade-all');
  if (options.clusterCIDR) args.push('--cluster-cidr', options.clusterCIDR);
  if (options.probes?.length) args.push('--probes', options.probes.join(','));
  if (options.allNetns) args.push('--all-netns');
  if (options.detail !== undefined) args.push('--detail', options.detail === 0 ? 'all' : String(options.detail));
  return args;
}

// Waits for the agent's first status event of the wanted state (ready, or tracing once probes attach).
function waitForStatus(client: AgentClient, wanted: StatusEvent['state'], died: Promise<string>): Promise<StatusEvent> {
  return new Promise((resolve, reject) => {
    const off = client.onEvent((e: NatscopeEvent) => {
      if (e.kind === 'status' && e.state === wanted) {
        off();
        resolve(e);
      }
      if (e.kind === 'error' && e.source === 'agent-start') {
        off();
        reject(new NatscopeError(e.message));
      }
    });
    void died.then((why) => {
      off();
      reject(new NatscopeError(`the micro-VM stopped before the lab was ready: ${why}`, { exitCode: EXIT.vmFailure }));
    });
  });
}

async function openEphemeralVm(prefix: string, probes: string[] | null, options: SessionOptions): Promise<Session> {
  const vm = await startVm({
    argv: agentArgs(prefix, { ...options, probes }),
    timeoutMs: 24 * 3600 * 1000,
    log: options.log,
    shares: options.shares,
  });
  forwardLines(vm.stderr, options.log);
  let closing = false;
  // the agent answers commands once it has reported; a VM still booting is stopped at once
  let heard = false;
  const died = vm.result.then((r) => (closing ? 'closed' : (r.detail ?? `exit code ${r.exitCode}`)));
  const client = new StreamClient('micro-vm', vm.stdout, vm.stdin, async () => {
    if (closing) return;
    closing = true;
    // the agent stops its tracer and powers the VM off when its input ends
    if (heard)
      await Promise.race([client.call({ cmd: 'shutdown', labDown: true }).catch(() => undefined), sleep(15_000)]);
    vm.stdin.end();
    await Promise.race([vm.result, sleep(heard ? 20_000 : 1000).then(() => vm.stop())]);
  });
  client.onEvent(options.onEvent);
  client.onEvent(() => {
    heard = true;
  });
  const cleanup = onCleanup('stop the micro-VM session', () => client.close());
  let status: StatusEvent;
  try {
    status = await waitForStatus(client, probes ? 'tracing' : 'ready', died);
  } catch (error) {
    await cleanup.run();
    throw error;
  }
  return {
    client,
    where: 'micro-vm',
    lab: status.lab,
    owned: true,
    ended: Promise.race([endedOf(client), died]),
    async close() {
      await cleanup.run();
    },
    async leftovers() {
      return vm.leftovers();
    },
  };
}

// The tracer stopping on its own, or the agent's stream ending.
function endedOf(client: AgentClient): Promise<string> {
  return new Promise((resolve) => {
    client.onEvent((e) => {
      if (e.kind === 'status' && e.state === 'stopped') resolve(e.message ?? 'the tracer stopped');
    });
    if (client instanceof StreamClient) {
      void client.finished.then(
        () => resolve('the agent went away'),
        (error: Error) => resolve(`the agent went away: ${error.message}`),
      );
    }
  });
}

export function forwardLines(stream: NodeJS.ReadableStream, log: (line: string) => void): void {
  let buffer = '';
  stream.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl).trimEnd();
      buffer = buffer.slice(nl + 1);
      if (line) log(`vm: ${line.replace(/^\[[^\]]*\]\s*/, '')}`);
    }
  });
}

// ---- a lab kept up in the micro-VM across commands (the broker) ----

export function brokerFiles(prefix: string) {
  return {
    state: join(stateDir(), `${prefix}vm.json`),
    socket: join(stateDir(), `${prefix}vm.sock`),
    log: join(stateDir(), `${prefix}vm.log`),
  };
}

interface BrokerState {
  pid: number;
  // null while the VM boots
  socket: string | null;
  startedAt: string;
}

const LAB_UP_TIMEOUT_MS = 10 * 60 * 1000;

async function readBroker(prefix: string): Promise<BrokerState | null> {
  try {
    return JSON.parse(await readFile(brokerFiles(prefix).state, 'utf8')) as BrokerState;
  } catch {
    return null;
  }
}

export async function brokerAlive(prefix: string): Promise<boolean> {
  const b = await readBroker(prefix);
  return b !== null && b.socket !== null && isAlive(b.pid) && existsSync(b.socket);
}

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

async function openViaBroker(prefix: string, probes: string[] | null, options: SessionOptions): Promise<Session> {
  const client = await connectBroker(prefix);
  client.onEvent(options.onEvent);
  const status = (await client.call({ cmd: 'status' })) as { lab: LabStatus };
  options.log(`using the micro-VM lab that is up (prefix ${prefix})`);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    if (probes) await client.call({ cmd: 'untrace' }).catch(() => undefined);
    await client.close();
  };
  // registered before the trace starts: Ctrl-C while it attaches still stops it
  const cleanup = onCleanup('leave the micro-VM lab', close);
  try {
    if (probes) await client.call({ cmd: 'trace', probes, allNetns: options.allNetns, detail: options.detail });
  } catch (error) {
    await cleanup.run();
    throw error;
  }
  // the lab stays up (it was up before); only this session's trace is stopped, by the broker's agent
  return {
    client,
    where: 'micro-vm',
    lab: status.lab,
    owned: false,
    ended: endedOf(client),
    close: () => cleanup.run(),
    leftovers: async () => [],
  };
}

export interface LabUpOptions {
  prefix: string;
  vm: Placement;
  lab: 'netns' | 'kind';
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  log: (line: string) => void;
}

export async function labUp(options: LabUpOptions): Promise<LabStatus> {
  if (options.lab === 'kind') {
    const { kindUp } = await import('../lab/kind/lab.js');
    return kindUp(options);
  }
  await holdLabLock(options.prefix, 'up');
  const where = await decidePlacement(options.vm, true, options.log);
  if (where === 'native') {
    if (await brokerAlive(options.prefix)) {
      throw new NatscopeError('a micro-VM lab with this prefix is up', {
        hint: 'natscope lab down first, or use another --prefix',
      });
    }
    const lab = await NetnsLab.up({
      prefix: options.prefix,
      masqueradeAll: options.masqueradeAll,
      clusterCIDR: options.clusterCIDR,
      log: options.log,
    });
    return lab.status();
  }
  return startBroker(options);
}

async function startBroker(options: LabUpOptions): Promise<LabStatus> {
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
  const args = [...natscope, 'session', 'serve', '--prefix', options.prefix];
  if (options.masqueradeAll) args.push('--masquerade-all');
  if (options.clusterCIDR) args.push('--cluster-cidr', options.clusterCIDR);
  const logFd = openSync(files.log, 'a');
  // detached and unreferenced: the broker outlives this command, by design
  const broker = spawn(node!, args, { detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  broker.unref();
  // recorded at once, so `lab down` finds a lab that is still booting
  await writeFile(files.state, JSON.stringify({ pid: broker.pid, socket: null, startedAt: new Date().toISOString() }));
  let exited = false;
  broker.on('exit', () => {
    exited = true;
  });
  // until the lab is up, an interrupted `lab up` takes the booting VM down with it
  const abandon = onCleanup('stop the micro-VM lab that was starting', async () => {
    killGroup(broker.pid, 'SIGTERM');
    for (let i = 0; i < 150 && !exited; i++) await sleep(200);
    if (!exited) killGroup(broker.pid, 'SIGKILL');
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
    return ((await client.call({ cmd: 'status' })) as { lab: LabStatus }).lab;
  } finally {
    await client.close();
  }
}

async function stopBroker(prefix: string): Promise<boolean> {
  const b = await readBroker(prefix);
  if (!b) return false;
  if (isAlive(b.pid)) {
    try {
      const client = await connectBroker(prefix);
      await Promise.race([client.call({ cmd: 'shutdown', labDown: true }), sleep(20_000)]).catch(() => undefined);
      await client.close();
    } catch {
      // unreachable: fall through to the signal
    }
    for (let i = 0; i < 100 && isAlive(b.pid); i++) await sleep(200);
    if (isAlive(b.pid) && (await readFile(`/proc/${b.pid}/cmdline`, 'utf8').catch(() => '')).includes('session'))
      process.kill(b.pid, 'SIGKILL');
  }
  const files = brokerFiles(prefix);
  await rm(files.state, { force: true });
  await rm(files.socket, { force: true });
  await rm(files.log, { force: true });
  return true;
}

export async function labDown(options: { prefix: string; vm: Placement; lab: 'netns' | 'kind' }): Promise<string[]> {
  if (options.lab === 'kind') {
    const { kindDown } = await import('../lab/kind/lab.js');
    return kindDown(options);
  }
  await holdLabLock(options.prefix, 'down');
  const removed: string[] = [];
  if (options.vm !== 'off' && (await stopBroker(options.prefix))) removed.push('the micro-VM lab');
  if (options.vm !== 'on') removed.push(...(await NetnsLab.down(options.prefix)));
  return removed;
}

// For the lab subcommands: whichever lab with this prefix is up.
export async function connectLab(options: {
  prefix: string;
  vm: Placement;
  lab: 'netns' | 'kind';
}): Promise<AgentClient> {
  if (options.lab === 'kind') {
    const { openKindLab } = await import('../lab/kind/lab.js');
    return inProcess(await openKindLab({ prefix: options.prefix }), 'native');
  }
  if (options.vm !== 'off' && (await brokerAlive(options.prefix))) return connectBroker(options.prefix);
  if (options.vm !== 'on' && (await readState(options.prefix)))
    return inProcess(await NetnsLab.open(options.prefix), 'native');
  throw new NatscopeError(`no lab is up (prefix ${options.prefix})`, { hint: 'sudo natscope lab up' });
}

function inProcess(lab: Lab, where: Where): AgentClient {
  const client = new InProcessClient(where, async () => undefined);
  client.agent = new Agent({ lab, where, emit: client.emit });
  return client;
}
