// The decoder's throughput: every event from the micro-VM passes through
// decodeEvent (src/agent/client.ts), and every line of a replay. Measured
// on the real recordings' lines (test/fixtures/recordings), cycled.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeEvent } from '../../src/events/codec.js';
import { projectRoot } from '../../src/util/paths.js';
import type { Figure } from './figures.js';

function recordedLines(): string[] {
  const dir = join(projectRoot(), 'test', 'fixtures', 'recordings');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.trim() !== '');
}

// CPU time of this process in ms: on a shared machine, what another
// process takes from the wall clock is not counted against the decoder.
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// Events decoded per CPU second, best of a few rounds of about 0.5 s each
// (the first rounds warm the JIT up).
export function benchDecode(): Figure[] {
  const lines = recordedLines();
  let best = 0;
  let sink = 0;
  for (let round = 0; round < 8; round++) {
    let n = 0;
    const started = cpuMs();
    let elapsed = 0;
    while (elapsed < 500) {
      for (let i = 0; i < lines.length; i++) sink += decodeEvent(lines[i]!, i + 1).t & 1;
      n += lines.length;
      elapsed = cpuMs() - started;
    }
    best = Math.max(best, (n / elapsed) * 1000);
  }
  if (sink < 0) throw new Error('unreachable');
  return [
    {
      name: 'decode: recorded events decoded per CPU second',
      value: Math.round(best),
      unit: 'events/s',
      target: '≥ 100000',
      where: 'native',
      note: `${lines.length} real lines, cycled`,
    },
  ];
}

// run alone: node dist/scripts/bench/decode.js
if (process.argv[1]?.endsWith('/bench/decode.js')) {
  const { formatFigure } = await import('./figures.js');
  for (const f of benchDecode()) process.stdout.write(`${formatFigure(f)}\n`);
}
