// The broker keeps a micro-VM lab up across natscope commands: it owns the
// VM (whose agent speaks on the VM's serial port), parses the output of the
// guest's bpftrace (src/agent/hostTraced.ts) and serves a Unix socket
// where any number of natscope commands connect, send commands and receive
// the event stream. It exits, and takes the VM down, on a shutdown command,
// on SIGTERM, or when the VM dies.

import { rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEvent } from '../events/codec.js';
import { base, type IptablesBackend, type NatscopeEvent, type ProxyMode } from '../events/types.js';
import { onCleanup } from '../util/cleanup.js';
import { splitLines } from '../util/lines.js';
import { progress } from '../util/progress.js';
import { StreamClient } from './client.js';
import { type Envelope, parseEnvelope, RefusedCommand } from './protocol.js';
import { brokerFiles, brokerStateText } from './brokerState.js';
import { HostTracedClient } from './hostTraced.js';
import { startVmAgent, tracePortRuns } from './microVm.js';
import { describeError, NatscopeError } from '../errors.js';

const MAX_BUFFERED = 8 << 20;

export interface BrokerOptions {
  prefix: string;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  proxyMode: ProxyMode;
  iptables?: IptablesBackend;
}

export async function runBroker(options: BrokerOptions): Promise<number> {
  const files = brokerFiles(options.prefix);
  const step = progress('micro-VM lab');
  const vm = await startVmAgent({ ...options, timeoutMs: 7 * 24 * 3600 * 1000, log: step.log });
  // the guest's agent keeps the lab and runs bpftrace; its parser runs here, in the broker
  const agent = new HostTracedClient(new StreamClient('micro-vm', vm.stdout, vm.stdin), (report) =>
    tracePortRuns(vm, report),
  );
  const clients = new Set<Socket>();
  // late joiners get the lab's latest status and config first
  const latest = new Map<string, NatscopeEvent>();
  agent.onEvent((event) => {
    if (event.kind === 'status' || event.kind === 'config') latest.set(event.kind, event);
    const line = `${encodeEvent(event)}\n`;
    for (const c of clients) {
      // a client that stopped reading (a suspended TUI) is let go, not buffered for without end
      if (c.writableLength > MAX_BUFFERED) c.destroy();
      else c.write(line);
    }
  });
  // the client whose trace is running: when it goes away, so does its trace
  let tracerOwner: Socket | null = null;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    for (const c of clients) c.end();
    await Promise.race([agent.call({ cmd: 'shutdown', labDown: true }).catch(() => undefined), sleep(15_000)]);
    vm.stdin.end();
    await Promise.race([vm.result, sleep(20_000).then(() => vm.stop())]);
    await rm(files.state, { force: true });
    await rm(files.socket, { force: true });
  };

  const server = createServer((socket) => {
    clients.add(socket);
    for (const e of latest.values()) socket.write(`${encodeEvent(e)}\n`);
    const gone = () => {
      clients.delete(socket);
      if (tracerOwner === socket) {
        tracerOwner = null;
        void agent.call({ cmd: 'untrace' }).catch(() => undefined);
      }
    };
    socket.on('close', gone);
    socket.on('error', gone);
    void (async () => {
      for await (const item of splitLines(socket, 1 << 20)) {
        if ('tooLong' in item || !item.line.trim()) continue;
        let envelope: Envelope;
        try {
          envelope = parseEnvelope(item.line);
        } catch (error) {
          // answered when its id could be read; a line that is no command at all is let go
          if (error instanceof RefusedCommand)
            socket.write(
              `${encodeEvent({ ...base('reply', 'natscope', 0), id: error.id, ok: false, error: error.message })}\n`,
            );
          continue;
        }
        const { id, ...command } = envelope;
        if (command.cmd === 'shutdown') {
          socket.write(
            `${encodeEvent({ ...base('reply', 'natscope', 0), id, ok: true, result: { stopped: true } })}\n`,
          );
          await stop();
          process.exit(0);
        }
        try {
          const result = await agent.call(command);
          if (command.cmd === 'trace') tracerOwner = socket;
          if (command.cmd === 'untrace' && tracerOwner === socket) tracerOwner = null;
          socket.write(`${encodeEvent({ ...base('reply', 'natscope', 0), id, ok: true, result })}\n`);
        } catch (error) {
          const { hint, exitCode } = error instanceof NatscopeError ? error : { hint: undefined, exitCode: undefined };
          socket.write(
            `${encodeEvent({ ...base('reply', 'natscope', 0), id, ok: false, error: describeError(error), ...(hint ? { hint } : {}), ...(exitCode ? { exitCode } : {}) })}\n`,
          );
        }
      }
    })();
  });

  const cleanup = onCleanup('stop the micro-VM lab', stop);
  // the agent announces itself once the lab is up in the VM
  const ready = await new Promise<boolean>((resolve) => {
    agent.onEvent((e) => {
      if (e.kind === 'status' && e.state === 'ready') resolve(true);
    });
    void vm.result.then(() => resolve(false));
  });
  if (!ready) {
    const result = await vm.result;
    step.log(`the micro-VM stopped before the lab was up: ${result.detail ?? `exit ${result.exitCode}`}`);
    await cleanup.run();
    return 1;
  }
  await rm(files.socket, { force: true });
  await new Promise<void>((resolve) => server.listen(files.socket, resolve));
  await writeFile(files.state, brokerStateText(process.pid, files.socket));
  step.log('lab up in the micro-VM');
  const result = await vm.result;
  if (!stopping) {
    step.log(`the micro-VM stopped: ${result.detail ?? `exit ${result.exitCode}`}`);
    await cleanup.run();
  }
  return 0;
}
