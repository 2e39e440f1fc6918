// bpftrace alone in the micro-VM, parsed on the host: the guest's agent
// brings the lab up and starts bpftrace with its output on the VM's
// virtio-serial trace ports; the events of a real lab request arrive here
// through those ports, parsed by the host's tracer, with loss counted, and
// stopping leaves no qemu, bpftrace, run folder or socket behind.

import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StreamClient } from '../../src/agent/client.js';
import { startVmAgent, tracePortRuns } from '../../src/agent/microVm.js';
import { waitForStatus } from '../../src/agent/session.js';
import { startVmTracer } from '../../src/agent/vmTracer.js';
import { isKernelEvent, type NatEvent, type NatscopeEvent, type RequestEvent } from '../../src/events/types.js';
import type { TracerSummary } from '../../src/tracer/bpftrace.js';
import type { VmHandle, VmResult } from '../../src/vm/run.js';

const PREFIX = 'natscope-vmt-';
let vm: VmHandle;
let qemuPid: number | undefined;
let runDir = '';
const hostEvents: NatscopeEvent[] = [];
const agentEvents: NatscopeEvent[] = [];
const reports: string[] = [];
let request: RequestEvent;
let summary: TracerSummary;
let guestPid = -1;
let bpftraceGoneBeforeShutdown = false;
let vmResult: VmResult;

beforeAll(async () => {
  vm = await startVmAgent({
    prefix: PREFIX,
    timeoutMs: 600_000,
    log: (line) => process.stderr.write(`  ${line}\n`),
  });
  const died = vm.result.then((r) => r.detail ?? `exit code ${r.exitCode}`);
  const client = new StreamClient('micro-vm', vm.stdout, vm.stdin);
  client.onEvent((e) => agentEvents.push(e));
  await waitForStatus(client, 'ready', died);
  const qemu = await execa('pgrep', ['-f', 'natscope-vm-.*natscope.out.sock'], { reject: false });
  qemuPid = Number(String(qemu.stdout).split('\n')[0]) || undefined;
  runDir =
    /path=(\/\S*natscope-vm-[^/,\s]+)\/natscope\.out\.sock/.exec(
      String((await execa('ps', ['-o', 'args=', '-p', String(qemuPid)], { reject: false })).stdout),
    )?.[1] ?? '';
  const runs = tracePortRuns(vm, (m) => reports.push(m));
  const tracer = await startVmTracer(client, runs, {
    probes: ['nat', 'conntrack', 'drop'],
    onEvent: (e) => hostEvents.push(e),
    // compile and attach take 16-22 s under emulation, several times that on a busy host
    readyTimeoutMs: 300_000,
  });
  guestPid = tracer.guestPid;
  request = await client.call({ cmd: 'request', target: 'nginx', timeoutMs: 10_000 });
  // a flush every 100 ms, then the port: give the events a few seconds to arrive
  for (let i = 0; i < 100 && !natOf(request); i++) await sleep(100);
  summary = await tracer.stop();
  // the guest's bpftrace has exited: its end line came through the port
  bpftraceGoneBeforeShutdown = summary.exitCode !== null || summary.signal !== null;
  await client.call({ cmd: 'shutdown', labDown: true });
  vm.stdin.end();
  vmResult = await vm.result;
});

afterAll(async () => {
  await vm?.stop();
});

function natOf(r: RequestEvent | undefined): NatEvent | undefined {
  if (!r) return undefined;
  return hostEvents.find(
    (e): e is NatEvent => e.kind === 'nat' && e.host === 'node1' && e.orig.sport === r.sport && e.orig.dst === r.dst,
  );
}

describe('the micro-VM tracer with its parser on the host', () => {
  test("a lab request's DNAT on node1 arrives parsed on the host, through the trace ports", () => {
    expect(request.outcome).toBe('answered');
    const nat = natOf(request);
    expect(nat, `no DNAT event for ${request.src}:${request.sport} among ${hostEvents.length} events`).toBeDefined();
    expect(nat!.manip).toBe('DNAT');
    expect(nat!.to.ip).not.toBe(request.dst);
    // the request's conntrack entry on node1 was reported too, named by the guest's namespaces
    expect(hostEvents.some((e) => e.kind === 'ct-new' && e.host === 'node1' && e.orig.sport === request.sport)).toBe(
      true,
    );
  });

  test("the kernel events came only through the ports: the agent's stream carried none", () => {
    expect(agentEvents.filter(isKernelEvent)).toEqual([]);
    expect(hostEvents.filter(isKernelEvent).length).toBeGreaterThan(0);
    expect(reports).toEqual([]);
  });

  test('loss is counted from the sequence numbers, and nothing was lost', () => {
    expect(summary.received).toBeGreaterThan(0);
    expect(summary.lost).toBe(0);
    expect(summary.perProbe.map((p) => p.probe).sort()).toEqual(expect.arrayContaining(['conntrack', 'nat']));
    expect(hostEvents.filter((e) => e.kind === 'error')).toEqual([]);
  });

  test('stopping ends bpftrace in the guest, then the VM; no qemu, run folder or socket is left', async () => {
    expect(guestPid).toBeGreaterThan(0);
    expect(bpftraceGoneBeforeShutdown).toBe(true);
    expect(vmResult.exitCode).toBe(0);
    expect(vm.leftovers()).toEqual([]);
    expect(runDir).not.toBe('');
    expect(existsSync(runDir)).toBe(false);
    const qemu = await execa('pgrep', ['-f', runDir], { reject: false });
    expect(String(qemu.stdout).trim()).toBe('');
  });
});
