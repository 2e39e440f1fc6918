// The guest side of the micro-VM tracer, with the stand-in bpftrace
// (test/fixtures/bin/fake-bpftrace, printing output captured in the
// micro-VM) and files in place of the trace ports: what it writes is a
// framed run that the host side reads back into the capture's events.

import { createReadStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { followGuestRun, PortRuns } from '../../src/agent/vmTracer.js';
import { isKernelEvent, type NatscopeEvent } from '../../src/events/types.js';
import { isAlive } from '../../src/util/process.js';
import { startBpftraceOnPorts } from '../../src/vm/guestBpftrace.js';
import { FIXTURES, testTempDir } from '../helpers.js';

const FAKE = join(FIXTURES, 'bin', 'fake-bpftrace');
const dir = testTempDir('natscope-guest-bpftrace-');

afterEach(() => {
  delete process.env.FAKE_BPFTRACE_MODE;
  delete process.env.FAKE_BPFTRACE_OUTPUT;
});

function ports(name: string) {
  const outputs = { out: join(dir, `${name}.out`), err: join(dir, `${name}.err`) };
  writeFileSync(outputs.out, '');
  writeFileSync(outputs.err, '');
  return outputs;
}

describe('bpftrace started in the guest with the trace ports as its output', () => {
  test('its run is framed on both ports and read back on the host into the events of its output', async () => {
    process.env.FAKE_BPFTRACE_MODE = 'ok';
    process.env.FAKE_BPFTRACE_OUTPUT = join(FIXTURES, 'bpftrace', 'lab-all-probes.jsonl');
    const outputs = ports('ok');
    const tracer = await startBpftraceOnPorts({
      probes: ['drop'],
      hosts: [[4026531840, 'host']],
      bpftrace: FAKE,
      outputs,
    });
    expect(isAlive(tracer.pid)).toBe(true);
    // it has printed its output (and a few flush markers) once the stdout file holds them
    for (let i = 0; i < 100 && !readFileSync(outputs.out, 'utf8').includes('"@nat_'); i++) await sleep(50);
    await sleep(300);
    tracer.signal('SIGTERM');
    const exit = await tracer.done;
    expect(exit.exitCode).toBe(0);
    expect(isAlive(tracer.pid)).toBe(false);

    const out = readFileSync(outputs.out, 'utf8');
    expect(out).toMatch(/^natscope-begin:[0-9a-f]{32}:\{"bpftrace":"0\.17\.0","hosts":\[\[4026531840,"host"\]\]/);
    expect(out).toMatch(/\nnatscope-end:[0-9a-f]{32}:\{"exitCode":0,"signal":null\}\n$/);

    const runs = new PortRuns(createReadStream(outputs.out), createReadStream(outputs.err), () => undefined);
    const run = await runs.next();
    const events: NatscopeEvent[] = [];
    const followed = followGuestRun(run, ['drop'], { onEvent: (e) => events.push(e), signal: () => undefined });
    const summary = await (await followed.ready).done;
    expect(summary.exitCode).toBe(0);
    expect(summary.lost).toBe(0);
    expect(events.filter(isKernelEvent).length).toBeGreaterThan(0);
  });

  test('a bpftrace that cannot run is refused before anything is written', async () => {
    const outputs = ports('missing');
    await expect(
      startBpftraceOnPorts({ probes: ['drop'], hosts: [], bpftrace: join(dir, 'no-such-bpftrace'), outputs }),
    ).rejects.toThrow(/bpftrace not found/);
    expect(readFileSync(outputs.out, 'utf8')).toBe('');
  });

  test('without its ports it says which one it cannot open', async () => {
    await expect(
      startBpftraceOnPorts({
        probes: ['drop'],
        hosts: [],
        bpftrace: FAKE,
        outputs: { out: join(dir, 'absent', 'out'), err: join(dir, 'absent', 'err') },
      }),
    ).rejects.toThrow(/cannot open the micro-VM port .*absent\/out/);
  });
});
