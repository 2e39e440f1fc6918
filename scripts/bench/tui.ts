// Benchmarks of the TUI on this machine (no kernel involved): the cost of a
// frame, the event rate it sustains while keys still answer within 100 ms,
// and the memory it holds after a million replayed events. Events are the
// incident recording's own, repeated with new client addresses and ports so
// that every repetition is a new connection.

import { readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeEvent } from '../../src/events/codec.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { projectRoot } from '../../src/util/paths.js';
import { TuiApp } from '../../tui/app.js';
import type { Key } from '../../tui/keys.js';
import { openScreen, type TuiScreen } from '../../tui/screen.js';
import { ViewModel } from '../../tui/viewModel.js';
import type { Figure } from './figures.js';

const COLS = 120;
const ROWS = 40;
const CLIENT = '192.168.10.10';

function recording(): NatscopeEvent[] {
  const file = join(projectRoot(), 'test', 'fixtures', 'recordings', 'incident.jsonl');
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => decodeEvent(l, i + 1));
}

// Copies `value`, moving the office client to `ip` and its ports by `shift`.
function moved(value: unknown, ip: string, ports: Set<number>, shift: number): unknown {
  if (Array.isArray(value)) return value.map((v) => moved(v, ip, ports, shift));
  if (value === null || typeof value !== 'object') return value === CLIENT ? ip : value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      (k === 'sport' || k === 'dport' || k === 'port') && typeof v === 'number' && ports.has(v)
        ? 1024 + ((v + shift) % 60000)
        : moved(v, ip, ports, shift);
  }
  return out;
}

// An endless stream of kernel and request events, each round a new set of connections.
export function* syntheticEvents(): Generator<NatscopeEvent> {
  const all = recording();
  const head = all.filter((e) => e.kind === 'config' || e.kind === 'status').slice(0, 2);
  const body = all.filter((e) => ['nat', 'ct-new', 'ct-destroy', 'drop', 'request'].includes(e.kind));
  // ephemeral ports of the office client and of node1's masquerade
  const ports = new Set<number>();
  for (const e of body) {
    const from =
      e.kind === 'nat' || e.kind === 'ct-new' || e.kind === 'ct-destroy' ? e.orig : e.kind === 'drop' ? e.packet : null;
    if (from && from.sport > 10000) ports.add(from.sport);
    if (e.kind === 'request' && e.sport) ports.add(e.sport);
    if (e.kind === 'nat' && e.manip === 'SNAT') ports.add(e.to.port);
    if (e.kind === 'drop' && e.packet.dport > 10000) ports.add(e.packet.dport);
  }
  yield* head;
  const span = body[body.length - 1]!.t - body[0]!.t + 1;
  for (let round = 0; ; round++) {
    const ip = `10.${100 + ((round >> 16) & 63)}.${(round >> 8) & 255}.${round & 255}`;
    for (const e of body) {
      const copy = moved(e, ip, ports, round) as NatscopeEvent;
      copy.t = e.t + round * span;
      yield copy;
    }
  }
}

function take(n: number): NatscopeEvent[] {
  const out: NatscopeEvent[] = [];
  for (const e of syntheticEvents()) {
    out.push(e);
    if (out.length >= n) break;
  }
  return out;
}

function nullTerminal() {
  return Object.assign(new Writable({ write: (_c, _e, done) => done() }), { columns: COLS, rows: ROWS, isTTY: true });
}

// A TUI on a fake terminal whose keys arrive over a loopback socket, so
// they reach node's poll phase like a real terminal's input does.
async function harness(keys: boolean) {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the key server has no TCP port');
  const client = connect(address.port, '127.0.0.1');
  const input = Object.assign(await accepted, { isTTY: true, setRawMode: () => undefined });
  const inner = openScreen({
    input: keys ? input : undefined,
    output: nullTerminal(),
    terminal: 'xterm-256color',
    env: {},
  });
  const sent: number[] = [];
  let handled: number[] = [];
  const lags: number[] = [];
  const screen: TuiScreen = {
    get cols() {
      return inner.cols;
    },
    get rows() {
      return inner.rows;
    },
    colour: inner.colour,
    paint(frame) {
      inner.paint(frame);
      const now = performance.now();
      for (const t of handled) lags.push(now - t);
      handled = [];
    },
    onKey(h: (k: Key) => void) {
      inner.onKey((k) => {
        const t = sent.shift();
        if (t !== undefined) handled.push(t);
        h(k);
      });
    },
    onResize: (h) => inner.onResize(h),
    text: () => inner.text(),
    destroy: () => inner.destroy(),
  };
  const model = new ViewModel({ kind: 'replay', file: 'bench', speed: 0 });
  const app = new TuiApp({ screen, model, save: async () => '' });
  return {
    app,
    model,
    lags,
    press(k: string) {
      sent.push(performance.now());
      client.write(k);
    },
    async close() {
      app.stop();
      screen.destroy();
      client.destroy();
      input.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function renderCost(): Promise<Figure> {
  const h = await harness(false);
  const events = take(120_000);
  for (const e of events.slice(0, 100_000)) h.model.ingest(e, 0);
  let spent = 0;
  const frames = 300;
  for (let i = 0; i < frames; i++) {
    // new rows every frame, so blessed has something to redraw
    for (const e of events.slice(100_000 + i * 50, 100_000 + (i + 1) * 50)) h.model.ingest(e, i);
    const start = performance.now();
    h.app.draw();
    await immediate(); // blessed writes the frame on the next tick
    spent += performance.now() - start;
  }
  await h.close();
  return {
    name: `tui: render cost per frame (${COLS}×${ROWS}, full buffers)`,
    value: spent / frames,
    unit: 'ms',
    target: '≤ 10',
    where: 'native',
    note: 'view + blessed diff + write',
  };
}

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)] ?? Infinity;

// Feeds `rate` events/s for `seconds` while pressing a key every 50 ms.
async function trial(
  rate: number,
  pool: NatscopeEvent[],
  seconds = 2,
): Promise<{ ok: boolean; p95: number; backlog: number }> {
  const h = await harness(true);
  let next = 0;
  const start = performance.now();
  // a busy loop fires timers late: each tick pushes what is due by the clock, not a fixed batch
  const feed = setInterval(() => {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (next < due) h.app.push(pool[next++ % pool.length]!);
  }, 10);
  const keys = setInterval(() => h.press(h.lags.length % 2 ? 'j' : 'k'), 50);
  await sleep(seconds * 1000);
  clearInterval(feed);
  clearInterval(keys);
  await sleep(150); // the last keys' frames
  const backlog = h.app.waiting;
  const lag = p95(h.lags);
  const ok = lag <= 100 && backlog <= rate * 0.25 && h.model.skipped === 0 && h.lags.length > 10;
  await h.close();
  return { ok, p95: lag, backlog };
}

async function sustainedRate(): Promise<Figure[]> {
  const pool = take(400_000);
  let good = 0;
  let goodLag = 0;
  let bad = 0;
  for (let rate = 5000; rate <= 5_000_000; rate *= 2) {
    const r = await trial(rate, pool);
    if (!r.ok) {
      bad = rate;
      break;
    }
    good = rate;
    goodLag = r.p95;
  }
  // bisect between the last rate that held and the first that did not
  for (let i = 0; i < 4 && bad > 0 && bad - good > good * 0.1; i++) {
    const mid = Math.round((good + bad) / 2);
    const r = await trial(mid, pool);
    if (r.ok) {
      good = mid;
      goodLag = r.p95;
    } else bad = mid;
  }
  return [
    {
      name: 'tui: max sustained events/s, input lag ≤ 100 ms',
      value: good,
      unit: 'events/s',
      target: '≥ 50000',
      where: 'native',
      note: 'no backlog growth, keys over a socket every 50 ms',
    },
    { name: 'tui: input lag (p95) at that rate', value: goodLag, unit: 'ms', target: '≤ 100', where: 'native' },
  ];
}

function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function memoryAfterReplay(): Promise<Figure> {
  const gc = gcFunction();
  gc();
  const before = process.memoryUsage().heapUsed;
  const h = await harness(false);
  const start = performance.now();
  let n = 0;
  for (const e of syntheticEvents()) {
    await h.app.ready();
    h.app.push(e);
    if (++n >= 1_000_000) break;
  }
  while (h.app.waiting > 0) await sleep(5);
  const seconds = (performance.now() - start) / 1000;
  gc();
  const heap = process.memoryUsage().heapUsed;
  const figure: Figure = {
    name: 'tui: heap after 1M replayed events (after GC)',
    value: heap / 2 ** 20,
    unit: 'MiB',
    target: '≤ 200',
    where: 'native',
    note: `${((heap - before) / 2 ** 20).toFixed(1)} MiB more than before the replay; replayed in ${seconds.toFixed(1)} s`,
  };
  await h.close();
  return figure;
}

async function ingestRate(): Promise<Figure> {
  const events = take(300_000);
  const model = new ViewModel({ kind: 'replay', file: 'bench', speed: 0 });
  const start = performance.now();
  for (const e of events) model.ingest(e, 0);
  const rate = events.length / ((performance.now() - start) / 1000);
  return {
    name: 'tui: view-model ingest rate (no drawing)',
    value: Math.round(rate),
    unit: 'events/s',
    where: 'native',
  };
}

export async function benchTui(): Promise<Figure[]> {
  // memory first, while the heap holds nothing of the other runs
  const memory = await memoryAfterReplay();
  return [await renderCost(), await ingestRate(), ...(await sustainedRate()), memory];
}
