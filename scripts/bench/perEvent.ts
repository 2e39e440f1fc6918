// What one event costs natively, end to end, on a probe that attaches on
// this host: the drop probe (a tracepoint) reporting NETFILTER_DROPs that a
// namespace of the benchmark's own makes at a steady rate. It goes through
// the same path as every probe's events: a BPF program storing the event in
// the kernel's batch buffers, bpftrace printing and clearing them ten times
// a second, natscope parsing, sorting and counting them. Each part's CPU is
// accounted per event (BPF run-time statistics; /proc for bpftrace; this
// process for natscope), beside what an untraced connection through the
// netns lab costs the machine natively: together they bound the tracing
// overhead the function probes (which cannot attach here) would add.
// Twice: with every event reported whole (--detail all), and with the
// default detail budget, past which the probe only counts (20,000 drops a
// second are far past it): the cost per dropped datagram of each.

import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { NetnsLab } from '../../src/lab/netns/lab.js';
import { startTracer } from '../../src/tracer/bpftrace.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { NetnsResolver } from '../../src/tracer/netns.js';
import { projectRoot } from '../../src/util/paths.js';
import { bpfProgramsUs, ownCpuUs, processCpuUs, withBpfStats, withMachineCost } from './cpu.js';
import type { Figure } from './figures.js';

const NS = 'natscope-bench-drops';
const PORT = 9;
const RATE = 20_000; // datagrams per second: 2,000 events per flush, well inside the buffers
const SECONDS = 5;

interface PerEvent {
  // reported whole, and counted in the kernel
  events: number;
  counted: number;
  sent: number;
  lost: number;
  bpfUs: number;
  bpftraceUs: number;
  natscopeUs: number;
}

async function dropNamespace(): Promise<void> {
  await execa('ip', ['netns', 'del', NS], { reject: false });
  await execa('ip', ['netns', 'add', NS]);
  await execa('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  await execa('ip', [
    'netns',
    'exec',
    NS,
    'iptables',
    '-A',
    'OUTPUT',
    '-p',
    'udp',
    '--dport',
    String(PORT),
    '-j',
    'DROP',
  ]);
}

async function measureDrops(detail: number | undefined): Promise<PerEvent> {
  const resolver = new NetnsResolver();
  const inode = await resolver.registerPath(`/run/netns/${NS}`, 'bench');
  let events = 0;
  let counted = 0;
  const tracer = await startTracer({
    probes: ['drop'],
    resolver,
    dropReasons: await loadDropReasons(),
    detail,
    onEvent: (e) => {
      if (e.kind === 'drop' && e.netns === inode && e.packet.dport === PORT) events++;
      if (e.kind === 'counted' && e.netns === inode) counted += e.count;
    },
  });
  // the process counters are read right next to the window: bpftool's own run stays outside them
  const processes = () => ({ bpftrace: processCpuUs(tracer.pid), natscope: ownCpuUs(), events, counted });
  const window = async () => {
    await sleep(1000);
    const before = { bpf: await bpfProgramsUs(tracer.pid), ...processes() };
    const sender = await execa('ip', [
      'netns',
      'exec',
      NS,
      process.execPath,
      join(projectRoot(), 'dist', 'scripts', 'bench', 'udpDrops.js'),
      String(PORT),
      String(RATE),
      String(SECONDS),
    ]);
    await sleep(300); // the last flush
    const after = { ...processes(), bpf: await bpfProgramsUs(tracer.pid) };
    return { before, after, sent: Number(String(sender.stdout).trim()) };
  };
  const measured = await window().finally(() => tracer.stop());
  const { before, after, sent } = measured;
  const reported = after.events - before.events;
  const n = reported + after.counted - before.counted;
  if (reported === 0) throw new Error('the drop probe reported none of the dropped datagrams');
  return {
    events: reported,
    counted: after.counted - before.counted,
    sent,
    lost: (await tracer.done).lost,
    bpfUs: (after.bpf - before.bpf) / n,
    bpftraceUs: (after.bpftrace - before.bpftrace) / n,
    natscopeUs: (after.natscope - before.natscope) / n,
  };
}

// CPU one untraced TCP connection through the lab's DNAT costs the machine
// (the load keeps both cores busy), and the rate.
async function untracedConnection(): Promise<{ us: number; rate: number }> {
  const lab = await NetnsLab.up({ prefix: 'natscope-bench-', masqueradeAll: false, clusterCIDR: null });
  try {
    const r = await withMachineCost(() => lab.load('nginx', SECONDS, 4));
    return { us: r.busyUs, rate: r.rate };
  } finally {
    await lab.down();
  }
}

// The default probes' events per connection through the lab (the vpn's and
// node1's conntrack entries confirmed and deleted, node1's DNAT: the
// micro-VM's count).
const EVENTS_PER_CONNECTION = 5;

export async function benchPerEvent(): Promise<Figure[]> {
  await dropNamespace();
  let whole: PerEvent;
  let budgeted: PerEvent;
  try {
    whole = await withBpfStats(() => measureDrops(0));
    budgeted = await withBpfStats(() => measureDrops(undefined));
  } finally {
    await execa('ip', ['netns', 'del', NS], { reject: false });
  }
  const connection = await untracedConnection();
  const where = 'native' as const;
  const us = (x: number) => Number(x.toFixed(2));
  const total = (m: PerEvent) => m.bpfUs + m.bpftraceUs + m.natscopeUs;
  // the untraced rate over the traced one, were each connection to make that many events at that cost
  const projected = (m: PerEvent) =>
    Number((connection.us / (connection.us + EVENTS_PER_CONNECTION * total(m))).toFixed(2));
  const parts = (m: PerEvent, label: string, note: string): Figure[] => [
    { name: `${label}: the probe's BPF program`, value: us(m.bpfUs), unit: 'µs', where, note },
    { name: `${label}: bpftrace (print and clear the buffers)`, value: us(m.bpftraceUs), unit: 'µs', where },
    { name: `${label}: natscope (parse, sort, count loss)`, value: us(m.natscopeUs), unit: 'µs', where },
  ];
  return [
    ...parts(
      whole,
      'per event, every event whole (--detail all)',
      `drop probe, ${whole.events} of ${whole.sent} dropped datagrams reported, ${whole.lost} lost; bpftrace: four bpf() syscalls per event (two key walks, a lookup, a delete)`,
    ),
    ...parts(
      budgeted,
      'per dropped datagram, default detail budget',
      `${budgeted.events} reported whole, ${budgeted.counted} counted in the kernel, of ${budgeted.sent}; ${budgeted.lost} lost`,
    ),
    {
      name: 'an untraced connection through the lab (CPU of the whole machine)',
      value: Math.round(connection.us),
      unit: 'µs',
      where,
      note: `${Math.round(connection.rate)} connections/s, nginx via node1's DNAT`,
    },
    {
      name: `projected traced/untraced rate, ${EVENTS_PER_CONNECTION} events per connection, every event whole`,
      value: projected(whole),
      unit: '×',
      where,
      note: "an untraced connection's CPU over itself plus its events' (function probes assumed to cost what this tracepoint does)",
    },
    {
      name: `projected traced/untraced rate, ${EVENTS_PER_CONNECTION} events per connection, default detail budget`,
      value: projected(budgeted),
      unit: '×',
      target: '≥ 0.9',
      where,
    },
  ];
}
