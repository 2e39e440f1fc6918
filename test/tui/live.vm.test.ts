// The TUI against the real lab and the real probes, in the micro-VM:
// `natscope tui --vm on` inside tmux. r on mysql shows the vpn's drop; m
// then r shows node1's SNAT and the answer; q leaves nothing running.
// Root; about two minutes under TCG (the VM boots, bpftrace attaches).

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRunning } from '../../src/util/process.js';
import { childrenOf, commandName, killIfRunning } from '../processes.js';
import { TmuxSession } from '../tmux.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
// a prefix of its own, so a lab someone keeps up (natscope lab up) is not used
const PREFIX = 'nstui-';
const terminal = new TmuxSession('tui');
const keys = (...k: string[]) => terminal.keys(...k);
const waitFor = (check: (s: string) => boolean, what: string, ms: number) => terminal.waitFor(check, what, ms);
let dir = '';
// processes this test started (the pane's shell and everything under it), by PID
const ours = new Set<number>();

// Remembers every process under the pane, so they can be checked (and, as a last resort, stopped) by PID.
function track(): void {
  const queue = [...ours];
  while (queue.length) {
    for (const c of childrenOf(queue.pop()!)) {
      if (!ours.has(c)) {
        ours.add(c);
        queue.push(c);
      }
    }
  }
}

const ourQemu = () => [...ours].filter((p) => isRunning(p) && (commandName(p) ?? '').startsWith('qemu-system'));

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(250);
  }
  return check();
}

// the picker's number for a target: "  2   mysql   ClusterIP …"
function pickNumber(s: string, target: string): string {
  const m = new RegExp(` (\\d) +${target.replace('/', '\\/')} +(ClusterIP|pod IP)`).exec(s);
  if (!m) throw new Error(`no ${target} in the picker:\n${s}`);
  return m[1]!;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the live TUI test needs root');
  if (!existsSync(MAIN)) throw new Error('dist/src/main.js is missing: run npm run build first');
  dir = await mkdtemp(join(tmpdir(), 'natscope-tui-live-'));
  const command = `cd '${dir}' && env LANG=C.UTF-8 node '${MAIN}' tui --vm on --prefix ${PREFIX}; echo "natscope exited $?"; sleep 600`;
  terminal.start(command, 120, 40);
  ours.add(terminal.panePid());
});

afterAll(async () => {
  track();
  // SIGHUP to natscope: its cleanup stops the tracer and powers the VM off
  await terminal.close();
  if (!(await until(() => ourQemu().length === 0, 60_000))) {
    for (const pid of ourQemu()) killIfRunning(pid);
  }
  for (const pid of ours) if (isRunning(pid) && pid !== process.pid) killIfRunning(pid);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('natscope tui --vm on (the netns lab and the probes in the micro-VM)', () => {
  it('shows the start-up progress, then the header says tracing', async () => {
    await waitFor((s) => s.includes('starting:') || s.includes('tracing'), 'the TUI to draw', 30_000);
    track();
    const s = await waitFor((t) => /tracing nat,conntrack,drop/.test(t), 'the probes to attach', 240_000);
    expect(s).toContain('masqueradeAll OFF');
    expect(s).toContain('micro-VM');
  });

  it('r on mysql: the vpn drops the SYN-ACK and the request times out', async () => {
    await keys('r');
    const picker = await waitFor((t) => t.includes('Request from the office'), 'the picker', 5000);
    await keys(pickNumber(picker, 'mysql'));
    const s = await waitFor((t) => t.includes('mysql: timed out'), 'the mysql request to time out', 20_000);
    expect(s).toMatch(/vpn +✗ NETFILTER_DROP/);
    expect(s).toContain('a reply the VPN never saw a request for');
    const path = s.replace(/\n {4}/g, ' ');
    expect(path).toMatch(
      /office → vpn → node1 \[DNAT 10\.96\.\d+\.\d+:3306 ⇒ 10\.244\.2\.2:3306\] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP/,
    );
  });

  it('m switches masqueradeAll on: the header changes and both panes get a marker', async () => {
    await keys('m');
    const s = await waitFor((t) => t.includes('masqueradeAll ON'), 'the header to say masqueradeAll ON', 30_000);
    // once in the DNAT pane (left of the rule), once in the SNAT pane (right of it)
    const rule = s
      .split('\n')
      .find((l) => l.includes('┬── SNAT'))!
      .indexOf('┬');
    const at = s.split('\n').flatMap((l) => [...l.matchAll(/kube-proxy: masqueradeAll on/g)].map((m) => m.index!));
    expect(at.some((x) => x < rule)).toBe(true);
    expect(at.some((x) => x > rule)).toBe(true);
  });

  it('then r on mysql: node1 SNATs to its own address and mysql answers', async () => {
    await keys('r');
    const picker = await waitFor((t) => t.includes('Request from the office'), 'the picker', 5000);
    await keys(pickNumber(picker, 'mysql'));
    const s = await waitFor((t) => t.includes('mysql: answered'), 'the mysql request to be answered', 20_000);
    expect(s).toMatch(/⇒ {2}10\.0\.1\.11:\d+ →/);
    const path = s.replace(/\n {4}/g, ' ');
    expect(path).toMatch(
      /node1 \[DNAT 10\.96\.\d+\.\d+:3306 ⇒ 10\.244\.2\.2:3306 \+ SNAT ⇒ 10\.0\.1\.11\].* → office ✓/,
    );
    expect(s).toMatch(/the pod saw 10\.0\.1\.11:\d+/);
  });

  it('q stops the TUI, the tracer and the micro-VM', async () => {
    track();
    expect(ourQemu().length).toBeGreaterThan(0);
    await keys('q');
    await waitFor((t) => t.includes('natscope exited 0'), 'natscope to exit', 90_000);
    expect(await until(() => ourQemu().length === 0, 10_000)).toBe(true);
  });
});
