// Events per second through the whole host-side pipeline on one core:
// a bpftrace output line → parse → typed event → flow correlation. The
// input is the real output of a micro-VM run (test/fixtures/bpftrace, the
// default probes' lines), repeated with fresh client ports so every
// connection is new.

import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { FlowTracker } from '../../src/events/flows.js';
import { loadDropReasons } from '../../src/tracer/btf.js';
import { NetnsResolver } from '../../src/tracer/netns.js';
import type { ParseContext } from '../../src/tracer/parse.js';
import { parseBpftraceLine } from '../../src/tracer/parse.js';
import { projectRoot } from '../../src/util/paths.js';
import type { Figure } from './figures.js';

const EVENTS = 1_000_000;

function templates(): string[] {
  const text = readFileSync(join(projectRoot(), 'test', 'fixtures', 'bpftrace', 'lab-all-probes.jsonl'), 'utf8');
  // natscope's default probes (nat, conntrack, drop): rewrite is opt-in, per packet
  return text.split('\n').filter((l) => /"data": "(nat|ct-new|ct-destroy|drop) /.test(l));
}

// Rewrites the raw client port field (168470720 = 192.168.10.10 is the client) so each round is a new connection.
function variant(line: string, round: number): string {
  const port = 1024 + (round % 60000);
  const raw = ((port & 255) << 8) | (port >> 8);
  return line.replace(/ 168470720 \d+( |\\n)/g, ` 168470720 ${raw}$1`);
}

// The tracer's own lookups: a resolver with the capture's namespaces
// registered as lab hosts, and this kernel's drop reasons.
async function realContext(lines: string[]): Promise<ParseContext> {
  const resolver = new NetnsResolver();
  const hosts = ['office', 'vpn', 'node1', 'node2', 'node3', 'pod-nginx', 'pod-mysql'];
  for (const line of lines) {
    const inode = Number(/"data": "\S+ \d+ \d+ \d+ (\d+) /.exec(line)?.[1]);
    if (inode && !resolver.has(inode)) resolver.register(inode, hosts[resolver.entries().length % hosts.length]!);
  }
  const reasons = await loadDropReasons();
  return { hostOf: (inode) => resolver.hostOf(inode), dropReason: (code) => reasons.name(code) };
}

export async function benchPipeline(): Promise<Figure[]> {
  const base = templates();
  // prepare the input first (the clock measures natscope, not the generator):
  // a pool of 5000 rounds of distinct connections, cycled; the tracker keeps
  // fewer flows than that, so a cycled connection is a new flow again
  const built: string[] = [];
  for (let r = 0; r < 5000; r++) for (const l of base) built.push(variant(l, r));
  // as read from bpftrace's stdout: flat strings decoded from bytes
  const pool = Buffer.from(built.join('\n')).toString('utf8').split('\n');
  const ctx = await realContext(base);
  let tracker: FlowTracker | null = new FlowTracker();
  // time the collector spends (the events flows keep survive young-generation collections)
  let gcMs = 0;
  const gcWatch = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  gcWatch.observe({ entryTypes: ['gc'] });
  const started = performance.now();
  let events = 0;
  for (let i = 0; i < EVENTS; i++) {
    const record = parseBpftraceLine(pool[i % pool.length]!, ctx);
    if (record.type === 'event') {
      tracker.add(record.event);
      events++;
    }
  }
  const ms = performance.now() - started;
  // entries arrive asynchronously
  await new Promise((resolve) => setTimeout(resolve, 100));
  gcWatch.disconnect();
  const flowsKept = tracker.size;
  // what the tracker holds: the heap with it, minus the heap without it
  global.gc?.();
  const withTracker = process.memoryUsage().heapUsed;
  tracker = null;
  global.gc?.();
  const held = withTracker - process.memoryUsage().heapUsed;
  return [
    {
      name: 'pipeline: parse → event → flows (one core)',
      value: Math.round(events / (ms / 1000)),
      unit: 'events/s',
      target: '≥ 500000',
      where: 'native',
      note: `${Math.round((100 * gcMs) / ms)} % of it in garbage collection`,
    },
    {
      name: 'pipeline: heap the flow tracker holds after 1M events',
      value: global.gc ? Math.round(held / 1e6) : Number.NaN,
      unit: 'MB',
      target: 'bounded',
      where: 'native',
      note: global.gc ? `${flowsKept} flows kept (the rest expired)` : 'run node with --expose-gc to measure',
    },
  ];
}
