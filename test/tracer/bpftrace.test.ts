import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { Readable } from 'node:stream';
import {
  ATTACHED,
  type BpftraceProcess,
  bpftraceInvocation,
  deliverTo,
  type EventReceiver,
  followBpftrace,
  startTracer,
  type TracerOptions,
} from '../../src/tracer/bpftrace.js';
import { featuresOf, parseBpftraceVersion } from '../../src/tracer/version.js';
import { dropReasonsFrom } from '../../src/tracer/btf.js';
import { NetnsResolver } from '../../src/tracer/netns.js';
import { isKernelEvent, type NatscopeEvent } from '../../src/events/types.js';
import { STREAMS } from '../../src/tracer/streams.js';
import { asNatscopeError, FIXTURES, testTempDir } from '../helpers.js';
import { isAlive } from '../../src/util/process.js';

const FAKE = join(FIXTURES, 'bin', 'fake-bpftrace');
const OUTPUT = join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl');
const dir = testTempDir('natscope-tracer-');

function run(mode: string, extra: Partial<TracerOptions> = {}, output = OUTPUT) {
  for (const suffix of ['', '.pid', '.env']) rmSync(join(dir, `${mode}.log${suffix}`), { force: true });
  process.env.FAKE_BPFTRACE_MODE = mode;
  process.env.FAKE_BPFTRACE_OUTPUT = output;
  process.env.FAKE_BPFTRACE_LOG = join(dir, `${mode}.log`);
  const events: NatscopeEvent[] = [];
  const started = startTracer({
    probes: ['drop'],
    resolver: new NetnsResolver(),
    dropReasons: dropReasonsFrom(new Map([['SKB_DROP_REASON_NETFILTER_DROP', 7]]), 'test'),
    onEvent: (e) => events.push(e),
    bpftrace: FAKE,
    readyTimeoutMs: 5000,
    ...extra,
  });
  return { started, events };
}

async function until(cond: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

afterEach(() => {
  delete process.env.FAKE_BPFTRACE_MODE;
  delete process.env.FAKE_BPFTRACE_VERSION;
});

// A fake that answers --version as `version` says, at a path of its own
// (natscope asks each bpftrace binary its version once per process).
function fakeAs(version: string, name: string): string {
  process.env.FAKE_BPFTRACE_VERSION = version;
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nexec '${FAKE}' "$@"\n`, { mode: 0o755 });
  return path;
}

const OUTPUT_0_23 = join(FIXTURES, 'bpftrace', 'lab-all-probes-0.23.jsonl');
const logged = (mode: string, suffix = '') => readFileSync(join(dir, `${mode}.log${suffix}`), 'utf8');

const BUFFERS = new Set(Object.values(STREAMS).flatMap((s) => s.buffers));
const COUNT_MAPS = new Set(Object.values(STREAMS).flatMap((s) => s.counts));

// A map print of bpftrace's JSON output, {"type": "map", "data": {"@name": value}}: a count
// map's value is {key: count}, an event buffer's {key: event}, a scalar map's a number.
const MapPrintSchema = z.object({ data: z.record(z.string(), z.unknown()) });
const CountMapSchema = z.record(z.string(), z.number());
const BufferSchema = z.record(z.string(), z.unknown());

function printedMap(line: string): [name: string, value: unknown] {
  return Object.entries(MapPrintSchema.parse(JSON.parse(line)).data)[0]!;
}

// What a capture's lines count past the detail budget: the sum of its count maps' prints.
function countedIn(lines: string[]): number {
  let n = 0;
  for (const line of lines) {
    if (!line.startsWith('{"type": "map"')) continue;
    const [name, value] = printedMap(line);
    if (COUNT_MAPS.has(name)) n += Object.values(CountMapSchema.parse(value)).reduce((x, y) => x + y, 0);
  }
  return n;
}

// The events a capture's lines hold: the entries of its event buffers' prints.
function eventsIn(lines: string[]): number {
  let n = 0;
  for (const line of lines) {
    if (!line.startsWith('{"type": "map"')) continue;
    const [name, value] = printedMap(line);
    if (BUFFERS.has(name)) n += Object.keys(BufferSchema.parse(value)).length;
  }
  return n;
}

const capture = () => readFileSync(OUTPUT, 'utf8').split('\n');
const kernelEvents = (events: NatscopeEvent[]) => events.filter(isKernelEvent);

describe("bpftrace's command line", () => {
  test("JSON output, the program, and the detail budget per flush as its argument; sizes under the version's names", () => {
    const v017 = featuresOf(parseBpftraceVersion('bpftrace v0.17.0')!);
    expect(bpftraceInvocation('/run/p.bt', v017, {})).toEqual({
      args: ['-f', 'json', '/run/p.bt', '20'],
      env: { [ATTACHED]: '1', BPFTRACE_PERF_RB_PAGES: '1024', BPFTRACE_MAP_KEYS_MAX: '16384' },
    });
    const v023 = featuresOf(parseBpftraceVersion('bpftrace v0.23.2')!);
    expect(bpftraceInvocation('/run/p.bt', v023, { detail: 0, perfPages: 64, bufferEvents: 100 })).toEqual({
      args: ['-f', 'json', '/run/p.bt', '0'],
      env: { [ATTACHED]: '1', BPFTRACE_PERF_RB_PAGES: '64', BPFTRACE_MAX_MAP_KEYS: '100' },
    });
  });
});

describe('the bpftrace runner (with a fake bpftrace on the command line)', () => {
  test('streams parsed events once attached, in time order, stops with SIGTERM, settles loss from the final counters', async () => {
    const { started, events } = run('ok');
    const tracer = await started;
    expect(tracer.attachMs).toBeGreaterThanOrEqual(0);
    const printed = eventsIn(capture());
    expect(printed).toBeGreaterThan(10);
    await until(() => events.length >= printed);
    const summary = await tracer.stop();
    expect(summary.exitCode).toBe(0);
    expect(summary.received).toBe(printed);
    expect(summary.lost).toBe(0);
    expect(events.filter((e) => e.kind === 'drop' && e.reason === 'NETFILTER_DROP').length).toBeGreaterThan(0);
    // what the probes counted past the detail budget arrives whole too, each count after its flush's events
    const counted = countedIn(capture());
    expect(counted).toBeGreaterThan(100);
    expect(summary.counted).toBe(counted);
    expect(events.reduce((n, e) => n + (e.kind === 'counted' ? e.count : 0), 0)).toBe(counted);
    // the first counts go out after every kernel event printed before them, their own flush's included
    const firstCountLine = capture().findIndex((l) => /^\{"type": "map", "data": \{"@\w+_over_[ab]"/.test(l));
    const firstCount = events.findIndex((e) => e.kind === 'counted');
    expect(kernelEvents(events.slice(0, firstCount))).toHaveLength(eventsIn(capture().slice(0, firstCountLine)));
    // a flush prints one buffer after the other; its events go out sorted by time
    const times = kernelEvents(events).map((e) => e.t);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(isAlive(tracer.pid)).toBe(false);
    // the composed program and the JSON flag were handed over as an argument array
    const log = readFileSync(join(dir, 'ok.log'), 'utf8');
    // and the detail budget (200 events per CPU and second = 20 per flush) as the program's argument
    expect(log.split('\n').slice(0, 4)).toEqual(['-f', 'json', expect.stringMatching(/natscope\.bt$/), '20']);
    expect(log).toContain('tracepoint:skb:kfree_skb');
  });

  test('what the buffers hold when bpftrace stops arrives in its exit dump, and a buffer dumped again counts once', async () => {
    const lines = capture();
    const blank = lines.indexOf('');
    const batches = lines
      .map((l, i) => (/^\{"type": "map", "data": \{"@\w+_[ab]"/.test(l) ? i : -1))
      .filter((i) => i >= 0 && i < blank);
    // the last flush's buffers were never printed (bpftrace stopped first);
    // the buffer printed before them was, but its clear had not run: it is dumped again
    const previousMarker = lines
      .slice(0, batches.at(-1)!)
      .lastIndexOf('{"type": "printf", "data": "natscope-flush\\n"}');
    const unprinted = batches.filter((i) => i > previousMarker);
    const again = batches.filter((i) => i < previousMarker).at(-1)!;
    const running = lines.slice(0, blank).filter((_, i) => !unprinted.includes(i));
    const dump = [...lines.slice(blank), ...unprinted.map((i) => lines[i]!), lines[again]!];
    const file = join(dir, 'exit-dump.jsonl');
    writeFileSync(file, [...running, ...dump].join('\n'));
    const { started, events } = run('ok', {}, file);
    const tracer = await started;
    await until(() => kernelEvents(events).length >= eventsIn(running));
    const summary = await tracer.stop();
    expect(eventsIn(unprinted.map((i) => lines[i]!))).toBeGreaterThan(0);
    expect(summary.received).toBe(eventsIn(lines));
    expect(summary.lost).toBe(0);
    expect(kernelEvents(events)).toHaveLength(eventsIn(lines));
    expect(events.filter((e) => e.kind === 'lost')).toEqual([]);
  });

  test('a count map printed just before bpftrace stopped, and shown again by its exit dump, counts once', async () => {
    const lines = capture();
    const blank = lines.indexOf('');
    const firstCount = lines.findIndex((l) => /^\{"type": "map", "data": \{"@\w+_over_[ab]"/.test(l));
    // no marker after the count map's print: its clear may not have run, and the dump repeats it
    const running = lines.slice(0, firstCount + 1);
    const file = join(dir, 'count-dumped-again.jsonl');
    writeFileSync(file, [...running, ...lines.slice(blank), lines[firstCount]!].join('\n'));
    const { started, events } = run('stalled', { flushWaitMs: 200 }, file);
    const tracer = await started;
    await until(() => kernelEvents(events).length >= eventsIn(running));
    const summary = await tracer.stop();
    expect(countedIn([lines[firstCount]!])).toBeGreaterThan(0);
    expect(summary.counted).toBe(countedIn(running));
    expect(events.reduce((n, e) => n + (e.kind === 'counted' ? e.count : 0), 0)).toBe(countedIn(running));
  });

  test('stop does not wait on a bpftrace that never goes quiet', async () => {
    const { started, events } = run('flood');
    const tracer = await started;
    await until(() => events.length > 0);
    const asked = performance.now();
    await tracer.stop();
    expect(performance.now() - asked).toBeLessThan(3000);
    expect(isAlive(tracer.pid)).toBe(false);
    // the same flush over and over: each event once
    expect(kernelEvents(events)).toHaveLength(eventsIn(capture().filter((l) => l.includes('"@drop_'))));
  });

  test('a gap in the sequence numbers becomes an exact lost event', async () => {
    const lines = capture();
    const first = lines.findIndex((l) => /"@drop_[ab]"/.test(l));
    const missing = eventsIn([lines[first]!]);
    const gapped = join(dir, 'gapped.jsonl');
    // one drop flush goes missing: a gap before the next drop of its CPU, or a tail the final counters reveal
    writeFileSync(gapped, lines.filter((_, i) => i !== first).join('\n'));
    const { started, events } = run('ok', {}, gapped);
    const tracer = await started;
    // stop only once all it printed has arrived (stopping kills the fake's whole process group)
    const printed = eventsIn(readFileSync(gapped, 'utf8').split('\n'));
    await until(() => kernelEvents(events).length >= printed);
    const summary = await tracer.stop();
    const lost = events.filter((e) => e.kind === 'lost');
    expect(lost).toEqual([expect.objectContaining({ probe: 'drop', count: missing, source: 'sequence' })]);
    expect(summary.lost).toBe(missing);
    expect(summary.perProbe.find((p) => p.probe === 'drop')?.lost).toBe(missing);
  });

  test('bpftrace 0.23: the attach notice comes on stdout among the JSON lines; the stream and loss accounting are the same', async () => {
    const bpftrace = fakeAs('bpftrace v0.23.2', 'bpftrace-0.23');
    const { started, events } = run('ok', { bpftrace, probes: ['nat', 'conntrack', 'drop', 'rewrite'] }, OUTPUT_0_23);
    const tracer = await started;
    const lines = readFileSync(OUTPUT_0_23, 'utf8').split('\n');
    const printed = eventsIn(lines);
    expect(printed).toBeGreaterThan(10);
    await until(() => kernelEvents(events).length >= printed);
    const summary = await tracer.stop();
    expect(summary.received).toBe(printed);
    expect(summary.lost).toBe(0);
    // the notice line is not taken for garbage
    expect(events.filter((e) => e.kind === 'error')).toEqual([]);
    expect(events.some((e) => e.kind === 'drop' && e.location === 'nft_do_chain')).toBe(true);
    // the map size under the name 0.20+ reads, and not the deprecated one it warns about
    expect(logged('ok', '.env')).toMatch(/^BPFTRACE_MAX_MAP_KEYS=16384$/m);
    expect(logged('ok', '.env')).not.toMatch(/BPFTRACE_MAP_KEYS_MAX/);
    expect(logged('ok')).toContain('for bpftrace 0.23.2');
  });

  test('bpftrace 0.17 gets the map size under its own name only', async () => {
    const { started } = run('ok');
    const tracer = await started;
    await tracer.stop();
    expect(logged('ok', '.env')).toMatch(/^BPFTRACE_MAP_KEYS_MAX=16384$/m);
    expect(logged('ok', '.env')).not.toMatch(/BPFTRACE_MAX_MAP_KEYS/);
  });

  test('a bpftrace older than 0.17 is refused before it runs anything, with the fix', async () => {
    const bpftrace = fakeAs('bpftrace v0.16.0', 'bpftrace-0.16');
    const { started } = run('ok', { bpftrace });
    await expect(started).rejects.toMatchObject({
      message: 'bpftrace 0.16.0 is older than 0.17.0, the oldest natscope supports',
      hint: expect.stringContaining('install bpftrace 0.17 or newer'),
    });
    // only --version was asked: the fake never ran a program
    expect(() => logged('ok', '.pid')).toThrow();
  });

  test('bpftrace crashing while it compiles (SIGSEGV) is named as a crash, with the fix, and leaves nothing running', async () => {
    const bpftrace = fakeAs('bpftrace v0.23.2', 'bpftrace-crashing');
    const { started } = run('segfault', { bpftrace });
    const error = asNatscopeError(await started.catch((e: unknown) => e));
    expect(error.message).toBe("bpftrace 0.23.2 crashed (SIGSEGV) while compiling or attaching natscope's probes");
    expect(error.hint).toMatch(/natscope doctor/);
    expect(error.hint).toMatch(/0\.17\.0 and 0\.23\.2/);
    expect(isAlive(Number(logged('segfault', '.pid')))).toBe(false);
  });

  test('bpftrace missing: says so and how to install it', async () => {
    const { started } = run('ok', { bpftrace: join(dir, 'no-such-bpftrace') });
    await expect(started).rejects.toThrow(/bpftrace not found/);
    await expect(started).rejects.toMatchObject({ hint: expect.stringContaining('apt-get install bpftrace') });
  });

  test('bpftrace not executable: refused with the reason', async () => {
    const path = join(dir, 'not-executable');
    writeFileSync(path, '#!/bin/sh\n');
    chmodSync(path, 0o644);
    const { started } = run('ok', { bpftrace: path });
    await expect(started).rejects.toThrow(/bpftrace/);
  });

  test('not root: tells the user to use sudo', async () => {
    const { started } = run('notroot');
    await expect(started).rejects.toMatchObject({
      message: expect.stringMatching(/only supports running as the root user/),
      hint: 'run natscope with sudo',
    });
  });

  test('kernel function probes refused: names the micro-VM and the tracepoint-only way out', async () => {
    const { started } = run('kfunc-refused', { probes: ['drop', 'rewrite'] });
    const error = asNatscopeError(await started.catch((e: unknown) => e));
    expect(error.message).toMatch(
      /^the kernel refused a function probe: .*kfunc\/kretfunc not available for your kernel version\.$/,
    );
    expect(error.hint).toMatch(/--vm/);
    expect(error.hint).toMatch(/--probes drop/);
  });

  test('never attaching: gives up after the timeout and leaves nothing running', async () => {
    const { started } = run('never-attaches', { readyTimeoutMs: 500 });
    await expect(started).rejects.toThrow(/did not attach its probes within 1 s/);
    // the fake sleeps in bpftrace's place: it must be gone
    const pid = Number(readFileSync(join(dir, 'never-attaches.log.pid'), 'utf8'));
    expect(pid).toBeGreaterThan(0);
    expect(isAlive(pid)).toBe(false);
  });

  test("a timeout past setTimeout's largest delay (24.8 days) waits, rather than giving up at once", async () => {
    const { started } = run('never-attaches', { readyTimeoutMs: 30 * 24 * 3600 * 1000 });
    const outcome = started.then(
      () => 'attached',
      (error: unknown) => asNatscopeError(error).message,
    );
    const early = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
    expect(early).toBe('waiting');
    // bpftrace ends before attaching: the start fails for that, not for the timeout
    await until(() => existsSync(join(dir, 'never-attaches.log.pid')));
    process.kill(Number(readFileSync(join(dir, 'never-attaches.log.pid'), 'utf8')), 'SIGKILL');
    expect(await outcome).not.toMatch(/did not attach its probes within/);
  });

  test('garbage on stdout becomes error events, the stream goes on', async () => {
    const { started, events } = run('garbage');
    const tracer = await started;
    await until(() => events.filter((e) => e.kind === 'error').length >= 2);
    await tracer.stop();
    const errors = events.filter((e) => e.kind === 'error').map((e) => (e.kind === 'error' ? e.message : ''));
    expect(errors[0]).toMatch(/unexpected bpftrace output on line 2 \(not JSON\): Segmentation fault/);
    expect(errors[1]).toMatch(/nat event 1,2 has 1 values, expected 14/);
  });

  test('bpftrace dying mid-stream is reported, and the events it printed are kept', async () => {
    const { started, events } = run('dies');
    const tracer = await started;
    const summary = await tracer.done;
    expect(summary.exitCode).toBe(1);
    expect(
      events.some((e) => e.kind === 'error' && /bpftrace stopped on its own: exited with code 1/.test(e.message)),
    ).toBe(true);
    const lines = capture();
    const printed = eventsIn(lines.slice(0, lines.findIndex((l) => /"@nat_[ab]"/.test(l)) + 1));
    expect(printed).toBeGreaterThan(0);
    expect(kernelEvents(events)).toHaveLength(printed);
  });
});

// The capture read by followBpftrace as a finished bpftrace's output, into `receiver`.
async function followCapture(receiver: EventReceiver, filter?: (e: NatscopeEvent) => boolean): Promise<void> {
  const version = parseBpftraceVersion('0.17.0')!;
  const process: BpftraceProcess = {
    pid: 1,
    stdout: Readable.from([readFileSync(OUTPUT)]),
    stderr: Readable.from([`${ATTACHED}\n`]),
    result: Promise.resolve({ exitCode: 0, signal: null, errorCode: null, message: '' }),
    running: () => false,
    stop: () => undefined,
    kill: () => undefined,
  };
  const followed = followBpftrace(process, {
    ...receiver,
    probes: ['nat', 'conntrack', 'drop', 'rewrite'],
    found: { binary: 'bpftrace', version, features: featuresOf(version), support: 'tested' },
    context: { hostOf: (i) => `ns${i}`, dropReason: (c) => `REASON_${c}` },
    filter,
  });
  await (await followed.ready).done;
}

// natscope's own reports and the counts carry the time they were read: compared without it
const timeless = (events: NatscopeEvent[]) =>
  events.map((e) => (e.kind === 'counted' || !isKernelEvent(e) ? { ...e, t: 0 } : e));

describe("a followed bpftrace's events, one at a time or a flush at once", () => {
  test('batches hold the events one at a time gives, in the same order, filtered the same', async () => {
    const notDrops = (e: NatscopeEvent) => e.kind !== 'drop';
    for (const filter of [undefined, notDrops]) {
      const single: NatscopeEvent[] = [];
      await followCapture({ onEvent: (e) => single.push(e) }, filter);
      const batches: NatscopeEvent[][] = [];
      await followCapture({ onEvents: (events) => batches.push(events) }, filter);
      expect(kernelEvents(single).length).toBeGreaterThan(100);
      expect(timeless(batches.flat())).toEqual(timeless(single));
      // a flush's events together: far fewer batches than events, and none empty
      expect(batches.length).toBeLessThan(single.length / 4);
      expect(batches.every((b) => b.length > 0)).toBe(true);
      if (filter) expect(single.some((e) => e.kind === 'drop')).toBe(false);
    }
  });

  test('the filter is asked once an event; a batch that passes whole is passed on as it is, one that passes none not at all', () => {
    const asked: number[] = [];
    const got: NatscopeEvent[][] = [];
    const event = (t: number): NatscopeEvent => ({
      v: 1,
      kind: 'error',
      t,
      host: 'natscope',
      netns: 0,
      message: 'm',
      source: 'bpftrace',
    });
    const deliver = deliverTo({
      onEvents: (events) => got.push(events),
      filter: (e) => {
        asked.push(e.t);
        return e.t % 2 === 0;
      },
    });
    const whole = [event(2), event(4)];
    deliver(whole);
    deliver([event(1), event(3)]);
    deliver([event(6), event(7), event(8)]);
    expect(asked).toEqual([2, 4, 1, 3, 6, 7, 8]);
    expect(got).toHaveLength(2);
    expect(got[0]).toBe(whole);
    expect(got[1]!.map((e) => e.t)).toEqual([6, 8]);
  });
});
