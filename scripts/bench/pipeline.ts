// Events per second through the whole host-side pipeline on one core:
// a bpftrace output line → parse → typed event → flow correlation. The
// input is the real output of a micro-VM run (test/fixtures/bpftrace, the
// default probes' lines), repeated with fresh client ports so every
// connection is new.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlowTracker } from '../../src/events/flows.js';
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

export async function benchPipeline(): Promise<Figure[]> {
  const base = templates();
  // prepare the input first (the clock measures natscope, not the generator):
  // a pool of 5000 rounds of distinct connections, cycled; the tracker keeps
  // fewer flows than that, so a cycled connection is a new flow again
  const built: string[] = [];
  for (let r = 0; r < 5000; r++) for (const l of base) built.push(variant(l, r));
  // as read from bpftrace's stdout: flat strings decoded from bytes
  const pool = Buffer.from(built.join('\n')).toString('utf8').split('\n');
  const ctx = { hostOf: (n: number) => `ns${n % 7}`, dropReason: (c: number) => `R${c}` };
  const tracker = new FlowTracker();
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  let events = 0;
  for (let i = 0; i < EVENTS; i++) {
    const record = parseBpftraceLine(pool[i % pool.length]!, ctx);
    if (record.type === 'event') {
      tracker.add(record.event);
      events++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  return [
    { name: 'pipeline: parse → event → flows (one core)', value: Math.round(events / seconds), unit: 'events/s', target: '≥ 500000', where: 'native' },
    { name: 'pipeline: heap held after 1M events (flows expire)', value: Math.round((heapAfter - heapBefore) / 1e6), unit: 'MB', target: 'bounded', where: 'native', note: `${tracker.size} flows kept` },
  ];
}
