// The netns lab as the commands see it. It runs natively when kernel
// function probes attach here, else in the micro-VM:
//   - for one command (trace, tui, demo) in that command's own VM, gone when it ends;
//   - across commands (lab up … lab down) in a VM owned by a broker process.
// A lab that is up is used where it is.

import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../errors.js';
import { NetnsLab } from '../lab/netns/lab.js';
import { DEFAULT_PREFIX } from '../lab/prefix.js';
import { NEWER_TRACE_FIELDS, type TraceRequest } from './protocol.js';
import { holdLabLock } from '../lab/netns/lock.js';
import { readState } from '../lab/netns/state.js';
import { needsFunctionProbes } from '../tracer/probes.js';
import { onCleanup, orUndo } from '../util/cleanup.js';
import { inProcessAgent, StreamClient } from './client.js';
import type { LabControl, LabPlace } from './control.js';
import { brokerAlive, brokerRunning, readBroker } from './brokerState.js';
import { connectBroker, startBroker, stopBroker } from './brokerClient.js';
import { HostTracedClient } from './hostTraced.js';
import { startVmAgent, tracePortRuns } from './microVm.js';
import { decidePlacement } from './placement.js';
import {
  endedOf,
  openInProcess,
  stopTracingOver,
  waitForStatus,
  type Session,
  type SessionOptions,
} from './session.js';

export const netnsControl: LabControl = {
  async up(request) {
    await holdLabLock(request.prefix, 'up');
    const where = await decidePlacement(request.vm, true, request.log);
    if (where === 'micro-vm') return { status: await startBroker(request), where };
    if (await brokerAlive(request.prefix)) {
      throw new NatscopeError('a micro-VM lab with this prefix is up', {
        hint: 'natscope lab down first, or use another --prefix',
      });
    }
    const lab = await NetnsLab.up({
      prefix: request.prefix,
      masqueradeAll: request.masqueradeAll,
      clusterCIDR: request.clusterCIDR,
      proxyMode: request.proxyMode,
      iptables: request.iptables,
      log: request.log,
    });
    return { status: await lab.status(), where };
  },

  async down(place) {
    await holdLabLock(place.prefix, 'down');
    const removed: string[] = [];
    if (place.vm !== 'off' && (await stopBroker(place.prefix))) removed.push('the micro-VM lab');
    if (place.vm !== 'on') removed.push(...(await NetnsLab.down(place.prefix)));
    return removed;
  },

  async connect(place) {
    if (place.vm !== 'off') {
      if (await brokerAlive(place.prefix)) return connectBroker(place.prefix);
      await refuseBooting(place);
    }
    if (place.vm !== 'on' && (await readState(place.prefix))) {
      return inProcessAgent({ lab: await NetnsLab.open(place.prefix), where: 'native' }).client;
    }
    throw new NatscopeError(`no lab is up (prefix ${place.prefix})`, {
      hint: `sudo natscope lab up${place.prefix === DEFAULT_PREFIX ? '' : ` --prefix ${place.prefix}`}`,
    });
  },

  async open(options) {
    const probes = options.probes;
    const functionProbes = probes ? needsFunctionProbes(probes) : true;
    const where = await decidePlacement(options.vm, functionProbes, options.log);
    if (where === 'micro-vm') {
      if (await brokerAlive(options.prefix)) return openViaBroker(options);
      return openEphemeralVm(options);
    }
    // tracepoints attach anywhere: trace them where the lab is
    if (options.vm !== 'off' && (await brokerAlive(options.prefix))) {
      if (!functionProbes) return openViaBroker(options);
    }
    if ((await readState(options.prefix))?.complete) {
      options.log(`using the lab that is up (prefix ${options.prefix})`);
      return openInProcess(await NetnsLab.open(options.prefix), false, probes, options);
    }
    if (!options.bringUp) {
      if (options.prefixGiven) {
        throw new NatscopeError(`no lab with prefix ${options.prefix} is up`, {
          hint: `sudo natscope lab up --prefix ${options.prefix}, or leave out --prefix to trace every namespace`,
        });
      }
      options.log('no lab is up: tracing every network namespace');
      return openInProcess(null, false, probes, options);
    }
    options.log('bringing the netns lab up');
    const lab = await NetnsLab.up({
      prefix: options.prefix,
      masqueradeAll: options.masqueradeAll ?? false,
      clusterCIDR: options.clusterCIDR ?? null,
      proxyMode: options.proxyMode,
      log: options.log,
    });
    return openInProcess(lab, true, probes, options);
  },
};

// A micro-VM lab whose VM is still booting (after an interrupted `lab up`,
// or while one runs) is said so, rather than "no lab is up".
async function refuseBooting(place: LabPlace): Promise<void> {
  const b = await readBroker(place.prefix);
  if (b && b.socket === null && brokerRunning(b)) {
    throw new NatscopeError(`the micro-VM lab (prefix ${place.prefix}) is still booting (pid ${b.pid})`, {
      hint: 'wait for it (natscope lab status again in a few seconds), or take it down: sudo natscope lab down',
    });
  }
}

// The lab and the tracer in this command's own micro-VM: the lab and
// bpftrace in the guest, bpftrace's parser here (src/agent/hostTraced.ts).
async function openEphemeralVm(options: SessionOptions): Promise<Session> {
  const probes = options.probes;
  const vm = await startVmAgent({ ...options, timeoutMs: 24 * 3600 * 1000 });
  let closing = false;
  // until the session is open (the lab up, the probes attached) nothing in the VM is worth an
  // orderly stop: a VM still booting or starting is stopped at once
  let opened = false;
  const died = vm.result.then((r) => (closing ? 'closed' : (r.detail ?? `exit code ${r.exitCode}`)));
  const guest = new StreamClient('micro-vm', vm.stdout, vm.stdin, async () => {
    if (closing) return;
    closing = true;
    // still booting or starting: nothing in the VM outlives it, so it is stopped at once
    if (!opened) {
      await vm.stop();
      return;
    }
    // the agent stops its bpftrace and powers the VM off when its input ends
    await Promise.race([guest.call({ cmd: 'shutdown', labDown: true }).catch(() => undefined), sleep(15_000)]);
    vm.stdin.end();
    await Promise.race([vm.result, sleep(20_000).then(() => vm.stop())]);
  });
  // closing it stops the tracer in order (its exit dump read), then the guest
  const client = new HostTracedClient(guest, (report) => tracePortRuns(vm, report), {
    attachTimeoutMs: options.attachTimeoutMs,
  });
  client.onEvent(options.onEvent);
  const cleanup = onCleanup('stop the micro-VM session', () => client.close());
  const status = await orUndo(cleanup, async () => {
    const ready = await waitForStatus(client, 'ready', died);
    if (probes) await client.call({ cmd: 'trace', probes, allNetns: options.allNetns, detail: options.detail });
    opened = true;
    return ready;
  });
  return {
    client,
    where: 'micro-vm',
    lab: status.lab,
    owned: true,
    ended: Promise.race([endedOf(client), died]),
    stopTracing: () => client.stopTracing(),
    async close() {
      await cleanup.run();
    },
    async leftovers() {
      return vm.leftovers();
    },
  };
}

// The micro-VM lab that `lab up` left up: it stays up; only this session's
// trace is stopped at the end, by the broker's agent.
async function openViaBroker(options: SessionOptions): Promise<Session> {
  const probes = options.probes;
  const client = await connectBroker(options.prefix);
  client.onEvent(options.onEvent);
  const status = await client.call({ cmd: 'status' });
  options.log(`using the micro-VM lab that is up (prefix ${options.prefix})`);
  const older = olderAgentWarning(status.protocol, { attachTimeoutMs: options.attachTimeoutMs }, options.prefix);
  if (older) options.log(`warning: ${older}`);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    if (probes) await client.call({ cmd: 'untrace' }).catch(() => undefined);
    await client.close();
  };
  // registered before the trace starts: Ctrl-C while it attaches still stops it
  const cleanup = onCleanup('leave the micro-VM lab', close);
  if (probes)
    await orUndo(cleanup, () =>
      client.call({
        cmd: 'trace',
        probes,
        allNetns: options.allNetns,
        detail: options.detail,
        attachTimeoutMs: options.attachTimeoutMs,
      }),
    );
  return {
    client,
    where: 'micro-vm',
    lab: status.lab,
    owned: false,
    ended: endedOf(client),
    stopTracing: () => stopTracingOver(client),
    close: () => cleanup.run(),
    leftovers: async () => [],
  };
}

// What to tell a command whose options the micro-VM lab's broker may drop:
// one started by a natscope older than protocol revisions (a lab left up
// across an upgrade) reads a trace request with its own, older schema.
export function olderAgentWarning(
  protocol: number | undefined,
  request: Partial<TraceRequest>,
  prefix: string,
): string | null {
  if (protocol !== undefined) return null;
  const given = NEWER_TRACE_FIELDS.filter(([field]) => request[field] !== undefined);
  if (given.length === 0) return null;
  const named = prefix === DEFAULT_PREFIX ? '' : ` --prefix ${prefix}`;
  const options = given.map(([, option]) => option).join(', ');
  return `the micro-VM lab that is up was started by an older natscope, which may not take ${options} (it then keeps its own 90 s); to use it, start the lab again with this natscope: sudo natscope lab down${named} && sudo natscope lab up --vm on${named}`;
}
