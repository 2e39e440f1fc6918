// The host side of the micro-VM tracer on bpftrace output captured in the
// micro-VM (test/fixtures/bpftrace), framed as the guest frames it on its
// ports: the events it gives are those a local bpftrace's output gives.

import { PassThrough, Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { followGuestRun, PortRuns } from '../../src/agent/vmTracer.js';
import { isKernelEvent, type NatscopeEvent } from '../../src/events/types.js';
import { ATTACHED, type BpftraceProcess, followBpftrace } from '../../src/tracer/bpftrace.js';
import { dropReasonsFrom } from '../../src/tracer/btf.js';
import { featuresOf, parseBpftraceVersion, supportOf } from '../../src/tracer/version.js';
import { beginLine, endLine, type RunHeader } from '../../src/vm/portFrames.js';
import { fixtureText } from '../helpers.js';

// natscope's own reports and the counts past the detail budget carry the time they were read: compared without it
const timeless = (events: NatscopeEvent[]) =>
  events.map((e) => (e.kind === 'counted' || !isKernelEvent(e) ? { ...e, t: 0 } : e));

const NONCE = '00112233445566778899aabbccddeeff';
const PROBES = ['nat', 'conntrack', 'drop', 'rewrite'] as const;

// Writes `bytes` to `stream` in pieces of uneven sizes, as a port delivers them.
async function deliver(stream: PassThrough, bytes: string, seed: number): Promise<void> {
  const buf = Buffer.from(bytes);
  let at = 0;
  let x = seed;
  while (at < buf.length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 5000);
    stream.write(buf.subarray(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
}

// The events of `output` as a local bpftrace's stdout (the reference).
async function locally(output: string, stderr: string, header: RunHeader): Promise<NatscopeEvent[]> {
  const events: NatscopeEvent[] = [];
  const version = parseBpftraceVersion(header.bpftrace)!;
  const hosts = new Map(header.hosts);
  const reasons = dropReasonsFrom(new Map(header.dropReasons), 'test');
  const process: BpftraceProcess = {
    pid: 1,
    stdout: Readable.from([output]),
    stderr: Readable.from([stderr]),
    result: Promise.resolve({ exitCode: 0, signal: null, errorCode: null, message: '' }),
    running: () => false,
    stop: () => undefined,
    kill: () => undefined,
  };
  const followed = followBpftrace(process, {
    probes: [...PROBES],
    found: { binary: 'bpftrace', version, features: featuresOf(version), support: supportOf(version) },
    context: { hostOf: (i) => hosts.get(i) ?? '?', dropReason: (c) => reasons.name(c) },
    onEvent: (e) => events.push(e),
  });
  await (await followed.ready).done;
  return events;
}

async function throughPorts(output: string, stderr: string, header: RunHeader) {
  const out = new PassThrough();
  const err = new PassThrough();
  const reports: string[] = [];
  const runs = new PortRuns(out, err, (m) => reports.push(m));
  const next = runs.next();
  const end = endLine(NONCE, { exitCode: 0, signal: null });
  // the stderr port may run ahead of the stdout port: they are separate channels
  await deliver(err, beginLine(NONCE, null) + stderr + end, 7);
  await deliver(out, `noise before the run\n${beginLine(NONCE, header)}${output}${end}`, 11);
  const run = await next;
  const events: NatscopeEvent[] = [];
  const signals: string[] = [];
  const followed = followGuestRun(run, [...PROBES], {
    onEvent: (e) => events.push(e),
    signal: (s) => signals.push(s),
  });
  const summary = await (await followed.ready).done;
  return { events, summary, reports, signals };
}

describe('bpftrace output through the micro-VM trace ports', () => {
  test("bpftrace 0.17's output (attach notice on stderr) gives the events a local bpftrace's does", async () => {
    const output = fixtureText('bpftrace', 'lab-all-probes.jsonl');
    const stderr = `${ATTACHED}\n`;
    const header: RunHeader = { bpftrace: '0.17.0', hosts: [], dropReasons: [['SKB_DROP_REASON_NETFILTER_DROP', 7]] };
    const reference = await locally(output, stderr, header);
    const ported = await throughPorts(output, stderr, header);
    expect(reference.filter((e) => e.kind === 'nat').length).toBeGreaterThan(0);
    expect(timeless(ported.events)).toEqual(timeless(reference));
    expect(ported.summary.exitCode).toBe(0);
    expect(ported.summary.lost).toBe(0);
    expect(ported.reports).toEqual(["20 bytes on the micro-VM's out trace port outside any run, dropped"]);
    expect(ported.signals).toEqual([]);
  });

  test("bpftrace 0.23's output (attach notice on stdout) gives the events a local bpftrace's does", async () => {
    const output = fixtureText('bpftrace', 'lab-all-probes-0.23.jsonl');
    const header: RunHeader = { bpftrace: '0.23.2', hosts: [], dropReasons: [] };
    const reference = await locally(output, '', header);
    const ported = await throughPorts(output, '', header);
    expect(reference.length).toBeGreaterThan(0);
    expect(timeless(ported.events)).toEqual(timeless(reference));
  });

  test('a VM that goes away ends the run, said so, and a waiting run is refused', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const runs = new PortRuns(out, err, () => undefined);
    const next = runs.next();
    out.write(beginLine(NONCE, { bpftrace: '0.17.0', hosts: [], dropReasons: [] }));
    const run = await next;
    out.end();
    err.end();
    const exit = await run.exit;
    expect(exit.errorCode).toBe('EVMGONE');
    expect(run.ended()).toBe(true);
    await expect(runs.next()).rejects.toThrow(/trace ports/);
  });
});
