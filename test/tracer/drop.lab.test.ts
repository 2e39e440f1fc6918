// The drop probe natively (root; tracepoints only, as on a locked-down
// kernel): a netfilter drop in a namespace the test creates is seen, named
// NETFILTER_DROP from this kernel's BTF, and attributed to that namespace;
// and past a small detail budget, a burst of drops is reported or counted,
// every one of them.

import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CountedEvent, DropEvent, NatscopeEvent } from '../../src/events/types.js';
import { startTracer, type Tracer } from '../../src/tracer/bpftrace.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { ensureTracefs } from '../../src/tracer/capabilities.js';
import { NetnsResolver } from '../../src/tracer/netns.js';

const NS = 'natscope-droptest';
let tracer: Tracer | undefined;
const events: NatscopeEvent[] = [];
let inode = 0;

beforeAll(async () => {
  await execa('ip', ['netns', 'del', NS], { reject: false });
  await execa('ip', ['netns', 'add', NS]);
  await execa('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  await execa('ip', ['netns', 'exec', NS, 'iptables', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9999', '-j', 'DROP']);
  await ensureTracefs();
  const resolver = new NetnsResolver();
  inode = await resolver.registerPath(`/run/netns/${NS}`, 'droptest');
  tracer = await startTracer({
    probes: ['drop'],
    resolver,
    dropReasons: await loadDropReasons(),
    onEvent: (e) => events.push(e),
    filter: (e) => e.kind !== 'drop' || e.host === 'droptest',
  });
});

afterAll(async () => {
  await tracer?.stop();
  await execa('ip', ['netns', 'del', NS], { reject: false });
});

describe('the drop probe on this host', () => {
  test('a UDP packet dropped by an iptables rule is a NETFILTER_DROP in that namespace, with its 5-tuple', async () => {
    // the DROP rule makes the send fail with EPERM: expected
    await execa('ip', ['netns', 'exec', NS, 'bash', '-c', 'echo hi > /dev/udp/127.0.0.1/9999'], { reject: false });
    const deadline = Date.now() + 10_000;
    let drop: DropEvent | undefined;
    while (!drop && Date.now() < deadline) {
      drop = events.find((e): e is DropEvent => e.kind === 'drop');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(drop).toBeDefined();
    expect(drop!.reason).toBe('NETFILTER_DROP');
    expect(drop!.host).toBe('droptest');
    expect(drop!.netns).toBe(inode);
    expect(drop!.location).toMatch(/^(nft_do_chain|ipt_do_table)$/);
    expect(drop!.packet).toMatchObject({ proto: 'udp', src: '127.0.0.1', dst: '127.0.0.1', dport: 9999 });
  });

  test('stopping leaves no bpftrace behind', async () => {
    const pid = tracer!.pid;
    const summary = await tracer!.stop();
    tracer = undefined;
    expect(summary.lost).toBe(0);
    expect((await execa('ps', ['-p', String(pid)], { reject: false })).exitCode).toBe(1);
  });
});

describe('the detail budget, on this kernel', () => {
  test('a burst of 500 drops with 10 per CPU and second kept whole: each reported or counted, none lost', async () => {
    const resolver = new NetnsResolver();
    const ns = await resolver.registerPath(`/run/netns/${NS}`, 'droptest');
    const seen: NatscopeEvent[] = [];
    const budgeted = await startTracer({
      probes: ['drop'],
      resolver,
      dropReasons: await loadDropReasons(),
      detail: 10,
      onEvent: (e) => seen.push(e),
    });
    try {
      await execa(
        'ip',
        [
          'netns',
          'exec',
          NS,
          'bash',
          '-c',
          'for i in $(seq 500); do echo x 2>/dev/null > /dev/udp/127.0.0.1/9999; done',
        ],
        { reject: false },
      );
      const reported = () =>
        seen.filter((e): e is DropEvent => e.kind === 'drop' && e.netns === ns && e.packet.dport === 9999).length;
      const counted = () =>
        seen.filter((e): e is CountedEvent => e.kind === 'counted' && e.netns === ns).reduce((n, e) => n + e.count, 0);
      const deadline = Date.now() + 10_000;
      while (reported() + counted() < 500 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const summary = await budgeted.stop();
      expect(reported() + counted()).toBe(500);
      // one per CPU and flush is kept whole: the burst outran it
      expect(reported()).toBeGreaterThan(0);
      expect(counted()).toBeGreaterThan(reported());
      for (const e of seen)
        if (e.kind === 'counted' && e.netns === ns)
          expect(e).toMatchObject({ of: 'drop', by: 'NETFILTER_DROP', host: 'droptest' });
      expect(summary.lost).toBe(0);
      // the summary counts every namespace's drops (no filter here), the stream's events too
      expect(summary.counted).toBe(seen.reduce((n, e) => n + (e.kind === 'counted' ? e.count : 0), 0));
    } finally {
      await budgeted.stop();
    }
  });
});
