// The micro-VM's tracer as a frontend sees it, with the parser on the host:
// a guest agent stand-in answers the protocol and plays back bpftrace output
// captured in the micro-VM (test/fixtures/bpftrace, which ends with a 2 s
// load from the lab's load generator) on the trace ports, framed as the
// guest frames it. What the agent's own tracer does around its parser must
// hold here: status events, the load left out and counted, the load's
// traced-so-far, the summary, an ordered stop, and the guest's clock.

import { PassThrough } from 'node:stream';
import { describe, expect, test, vi } from 'vitest';
import type { AgentClient, EventListener } from '../../src/agent/client.js';
import { HostTracedClient, type HostTracedOptions } from '../../src/agent/hostTraced.js';
import type { CommandName, CommandOf, Reply } from '../../src/agent/protocol.js';
import { PortRuns } from '../../src/agent/vmTracer.js';
import {
  base,
  isKernelEvent,
  type KernelEvent,
  monotonicNs,
  type NatscopeEvent,
  observationEvent,
} from '../../src/events/types.js';
import { OFFICE_LOAD_SOURCES } from '../../src/lab/netns/topology.js';
import { ATTACHED } from '../../src/tracer/bpftrace.js';
import { ATTACH_TIMEOUT_MS, VM_ATTACH_TIMEOUT_MS } from '../../src/tracer/outcome.js';
import { beginLine, endLine } from '../../src/vm/portFrames.js';
import { fixtureText } from '../helpers.js';

const NONCE = 'ffeeddccbbaa99887766554433221100';
// the guest booted long after this host: its monotonic clock is far behind
const GUEST_BEHIND_NS = 3_600e9;
const guestClock = () => monotonicNs() - GUEST_BEHIND_NS;

// The captured run: what bpftrace printed while tracing, and its exit dump (after the blank lines).
const output = fixtureText('bpftrace', 'lab-all-probes.jsonl');
const dumpAt = output.indexOf('\n\n');
const whileTracing = output.slice(0, dumpAt + 1);
const exitDump = output.slice(dumpAt + 1);

const LOAD = { target: 'nginx', ip: '10.96.0.10', port: 80, connections: 420, failed: 0, seconds: 2, rate: 210 };

// A guest agent on the far side of a serial port, as far as the host can
// tell: its replies and events (stamped with the guest's clock), and
// bpftrace's bytes on the trace ports.
class GuestStandIn implements AgentClient {
  readonly where = 'micro-vm' as const;
  readonly out = new PassThrough();
  readonly err = new PassThrough();
  readonly calls: string[] = [];
  private readonly listeners = new Set<EventListener>();
  // load sources the guest's lab reports; whether its bpftrace ever attaches
  constructor(
    private readonly loadSources: string[],
    private readonly attaches = true,
  ) {}

  onEvent(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: NatscopeEvent): void {
    for (const l of this.listeners) l(e);
  }

  announce(): void {
    this.emit({
      ...base('status', 'natscope', 0, guestClock()),
      state: 'ready',
      where: 'micro-vm',
      kernel: '6.1.0-guest',
      bpftrace: 'bpftrace v0.17.0',
      probes: [],
      lab: null,
      message: null,
    });
  }

  // bpftrace ends on its own (the guest killed it, say)
  endRun(exitCode: number | null, signal: string | null): void {
    const end = endLine(NONCE, { exitCode, signal });
    this.out.write(end);
    this.err.write(end);
  }

  async call<K extends CommandName>(command: CommandOf<K>): Promise<Reply<K>> {
    this.calls.push(command.cmd);
    const answer = await this.answer(command.cmd, command);
    // the stand-in answers what the protocol says each command answers
    return answer as Reply<K>;
  }

  private async answer(cmd: CommandName, command: object): Promise<unknown> {
    switch (cmd) {
      case 'status':
        return { lab: null, where: 'micro-vm', probes: [], loadSources: this.loadSources };
      case 'portTrace':
        this.err.write(`${beginLine(NONCE, null)}${this.attaches ? `${ATTACHED}\n` : ''}`);
        this.out.write(beginLine(NONCE, { bpftrace: '0.17.0', hosts: [], dropReasons: [] }));
        return { pid: 4242 };
      case 'load': {
        // the load runs: its events (and all else the fixture holds) come through the port meanwhile
        this.out.write(whileTracing);
        const result = { ...LOAD, tracedEventsSoFar: 0 };
        this.emit({
          ...observationEvent({ what: 'load', subject: 'nginx', result }, 'office'),
          t: guestClock(),
        });
        return result;
      }
      case 'portSignal':
        if ('signal' in command && command.signal === 'SIGTERM') {
          this.out.write(exitDump);
          this.endRun(null, 'SIGTERM');
        }
        if ('signal' in command && command.signal === 'SIGKILL') this.endRun(null, 'SIGKILL');
        return { signalled: true };
      case 'shutdown':
        return { stopped: true };
      default:
        throw new Error(`the stand-in does not answer ${cmd}`);
    }
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

async function traced(loadSources: string[]) {
  const guest = new GuestStandIn(loadSources);
  const client = new HostTracedClient(guest, (report) => new PortRuns(guest.out, guest.err, report));
  const events: NatscopeEvent[] = [];
  client.onEvent((e) => events.push(e));
  guest.announce();
  const attached = await client.call({ cmd: 'trace', probes: ['nat', 'conntrack', 'drop', 'rewrite'] });
  const load = await client.call({ cmd: 'load', target: 'nginx', seconds: 2, workers: 2 });
  const status = await client.call({ cmd: 'status' });
  const summary = await client.call({ cmd: 'untrace' });
  await client.close();
  return { guest, events, attached, load, status, summary };
}

const kernelOf = (events: NatscopeEvent[]) => events.filter(isKernelEvent);
const fromLoad = (e: KernelEvent) =>
  e.kind === 'drop'
    ? OFFICE_LOAD_SOURCES.includes(e.packet.src) || OFFICE_LOAD_SOURCES.includes(e.packet.dst)
    : OFFICE_LOAD_SOURCES.includes(e.kind === 'rewrite' ? e.before.src : e.orig.src);

describe('the micro-VM tracer with its parser on the host, as a frontend sees it', () => {
  test("the load's events are left out and counted; the rest arrive one by one, the same as without a load", async () => {
    const all = await traced([]);
    const withLoad = await traced(OFFICE_LOAD_SOURCES);
    const everything = kernelOf(all.events);
    const loads = everything.filter(fromLoad);
    expect(loads.length).toBeGreaterThan(100);
    // none of the load's arrives one by one; every other event does
    const shown = kernelOf(withLoad.events);
    expect(shown.filter(fromLoad)).toEqual([]);
    expect(shown.length).toBeGreaterThan(0);
    const counted = withLoad.events.filter((e) => e.kind === 'counted' && e.cause === 'load');
    const countedSum = counted.reduce((n, e) => n + (e.kind === 'counted' ? e.count : 0), 0);
    expect(countedSum).toBe(everything.length - kernelOf(withLoad.events).length);
    expect(countedSum).toBeGreaterThanOrEqual(loads.length);
    expect(withLoad.summary?.loadLeftOut).toBe(countedSum);
    // the summary is the same tracer's either way
    expect({ ...withLoad.summary, loadLeftOut: 0 }).toEqual(all.summary);
    expect(all.summary?.loadLeftOut).toBe(0);
  });

  test("the load's traced-so-far counts what arrived while it ran, and its observation says so once", async () => {
    const { events, load } = await traced(OFFICE_LOAD_SOURCES);
    const counted = events.filter((e) => e.kind === 'counted' && e.cause === 'load');
    expect(load.tracedEventsSoFar).toBe(counted.reduce((n, e) => n + (e.kind === 'counted' ? e.count : 0), 0));
    expect(load.tracedEventsSoFar).toBeGreaterThan(0);
    const observations = events.filter((e) => e.kind === 'observation' && e.what === 'load');
    expect(observations).toHaveLength(1);
    expect(observations[0]).toMatchObject({ result: { ...LOAD, tracedEventsSoFar: load.tracedEventsSoFar } });
    // the counts go out before the observation that reports them
    expect(events.indexOf(observations[0]!)).toBeGreaterThan(events.indexOf(counted.at(-1)!));
  });

  test('status events say tracing (the guest kernel, attach time) and stopped with what was seen', async () => {
    const { events, attached, status, summary, guest } = await traced(OFFICE_LOAD_SOURCES);
    const statuses = events.filter((e) => e.kind === 'status');
    expect(statuses.map((e) => (e.kind === 'status' ? e.state : ''))).toEqual(['ready', 'tracing', 'ready']);
    expect(statuses[1]).toMatchObject({
      where: 'micro-vm',
      kernel: '6.1.0-guest',
      bpftrace: 'bpftrace v0.17.0',
      probes: ['nat', 'conntrack', 'drop', 'rewrite'],
      message: `probes attached in ${(attached.attachMs / 1000).toFixed(1)} s`,
    });
    expect(status.probes).toEqual(['nat', 'conntrack', 'drop', 'rewrite']);
    expect(statuses[2]).toMatchObject({ probes: [] });
    expect(statuses[2]?.kind === 'status' && statuses[2].message).toBe(
      `tracing stopped: ${summary!.received} events, ${summary!.lost} lost, ${summary!.counted} counted (over the detail budget), ${summary!.loadLeftOut} of the lab's load counted, not shown`,
    );
    expect(summary).toMatchObject({ lost: 0, signal: 'SIGTERM' });
    // stopped in order: SIGTERM, its exit dump read, then the guest let go
    expect(guest.calls).toEqual(['status', 'portTrace', 'load', 'status', 'portSignal', 'close']);
  });

  test("what the host stamps is in the guest's clock, so it orders with the kernel's events", async () => {
    const { events } = await traced(OFFICE_LOAD_SOURCES);
    // (the load's counts carry the time of its last event, the kernel's)
    const stamped = events.filter(
      (e) => e.kind === 'status' || (e.kind === 'counted' && e.cause === 'detail') || e.kind === 'observation',
    );
    expect(stamped.filter((e) => e.kind === 'counted').length).toBeGreaterThan(0);
    const now = guestClock();
    for (const e of stamped) {
      expect(e.t).toBeLessThanOrEqual(now + 1e6);
      expect(e.t).toBeGreaterThan(now - 600e9);
    }
  });

  test('bpftrace ending on its own in the guest is said with a stopped status; untrace then has nothing to stop', async () => {
    const guest = new GuestStandIn([]);
    const client = new HostTracedClient(guest, (report) => new PortRuns(guest.out, guest.err, report));
    const events: NatscopeEvent[] = [];
    client.onEvent((e) => events.push(e));
    guest.announce();
    await client.call({ cmd: 'trace', probes: ['nat'] });
    guest.endRun(1, null);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = events.find((e) => e.kind === 'status' && e.state === 'stopped');
    expect(stopped).toMatchObject({ message: 'bpftrace stopped on its own: exited with code 1', probes: [] });
    expect(client.tracing).toBe(false);
    expect(await client.call({ cmd: 'untrace' })).toBeNull();
  });

  describe('a guest bpftrace that never attaches is given up on, killed, after', () => {
    const neverAttaches = (options?: HostTracedOptions) => {
      const guest = new GuestStandIn([], false);
      const client = new HostTracedClient(guest, (report) => new PortRuns(guest.out, guest.err, report), options);
      guest.announce();
      return { guest, client };
    };

    test("the trace's own attach timeout, before the client's (a lab's long-lived agent serves many traces)", async () => {
      const { guest, client } = neverAttaches({ attachTimeoutMs: 60_000 });
      const started = performance.now();
      await expect(client.call({ cmd: 'trace', probes: ['drop'], attachTimeoutMs: 1500 })).rejects.toThrow(
        'bpftrace did not attach its probes within 2 s',
      );
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(guest.calls).toEqual(['status', 'portTrace', 'portSignal']);
      expect(client.tracing).toBe(false);
    });

    test("the client's, when the trace names none", async () => {
      const { client } = neverAttaches({ attachTimeoutMs: 1500 });
      await expect(client.call({ cmd: 'trace', probes: ['drop'] })).rejects.toThrow(
        'bpftrace did not attach its probes within 2 s',
      );
    });

    test("the micro-VM's default, longer than on the host: compiling under emulation is slow", async () => {
      expect(VM_ATTACH_TIMEOUT_MS).toBeGreaterThan(ATTACH_TIMEOUT_MS);
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        const { client } = neverAttaches();
        let settled: unknown = null;
        const tracing = client.call({ cmd: 'trace', probes: ['drop'] }).catch((error: unknown) => {
          settled = error;
        });
        await vi.advanceTimersByTimeAsync(VM_ATTACH_TIMEOUT_MS - 1000);
        expect(settled).toBeNull();
        await vi.advanceTimersByTimeAsync(2000);
        await tracing;
        expect(settled).toMatchObject({
          message: `bpftrace did not attach its probes within ${VM_ATTACH_TIMEOUT_MS / 1000} s`,
        });
      } finally {
        vi.useRealTimers();
      }
    });
  });

  test('a second trace while one runs is refused, and the first goes on', async () => {
    const guest = new GuestStandIn([]);
    const client = new HostTracedClient(guest, (report) => new PortRuns(guest.out, guest.err, report));
    guest.announce();
    await client.call({ cmd: 'trace', probes: ['nat'] });
    await expect(client.call({ cmd: 'trace', probes: ['drop'] })).rejects.toThrow(/already tracing nat/);
    expect(client.tracing).toBe(true);
    await client.call({ cmd: 'shutdown' });
    expect(client.tracing).toBe(false);
    expect(guest.calls.at(-1)).toBe('shutdown');
  });
});
