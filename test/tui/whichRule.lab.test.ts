// `w` (which rule) in the real TUI against a real netns lab on this host:
// `natscope tui --vm off --probes drop` inside tmux (drop is a tracepoint:
// it attaches natively). w traces a mysql request with the kernel's
// nftrace through the agent and shows its rule path; Esc closes it; the
// trace leaves no table or nft listener, and q takes the lab down. Root.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsName } from '../../src/lab/netns/topology.js';
import { isRunning } from '../../src/util/process.js';
import { childrenOf, killIfRunning } from '../processes.js';
import { traceLeftovers } from '../ruletrace/leftovers.js';
import { TmuxSession } from '../tmux.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
// a prefix of its own, so a lab someone keeps up is not used
const PREFIX = 'nswr-';
const terminal = new TmuxSession('tui-rules');
const keys = (...k: string[]) => terminal.keys(...k);
const waitFor = (check: (s: string) => boolean, what: string, ms: number) => terminal.waitFor(check, what, ms);
let dir = '';
const ours = new Set<number>();

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

function pickNumber(s: string, target: string): string {
  const m = new RegExp(` (\\d) +${target} +(ClusterIP|pod IP)`).exec(s);
  if (!m) throw new Error(`no ${target} in the picker:\n${s}`);
  return m[1]!;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the live TUI test needs root');
  if (!existsSync(MAIN)) throw new Error('dist/src/main.js is missing: run npm run build first');
  dir = await mkdtemp(join(tmpdir(), 'natscope-tui-rules-'));
  const command = `cd '${dir}' && env LANG=C.UTF-8 NATSCOPE_STATE_DIR='${dir}/state' node '${MAIN}' tui --vm off --probes drop --prefix ${PREFIX}; echo "natscope exited $?"; sleep 600`;
  terminal.start(command, 120, 40);
  ours.add(terminal.panePid());
});

afterAll(async () => {
  track();
  // SIGHUP to natscope: its cleanup stops the tracer and takes its lab down; give it the time
  await terminal.close();
  for (let i = 0; i < 100 && [...ours].some((p) => p !== process.pid && isRunning(p)); i++)
    await new Promise((resolve) => setTimeout(resolve, 200));
  for (const pid of ours) if (isRunning(pid) && pid !== process.pid) killIfRunning(pid);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('natscope tui --vm off: w, which rule', () => {
  it('comes up on this host and traces drops', async () => {
    const s = await waitFor((t) => /tracing drop/.test(t), 'the lab and the drop probe', 120_000);
    expect(s).toContain('native');
    track();
  });

  it('w asks which target, traces a mysql request and shows node1’s DNAT without a masquerade mark', async () => {
    await keys('w');
    const picker = await waitFor(
      (t) => t.includes('Which rule · trace a request from the office to'),
      'the picker',
      5000,
    );
    await keys(pickNumber(picker, 'mysql'));
    await waitFor((t) => t.includes('Which rule · mysql'), 'the panel', 5000);
    const s = await waitFor(
      (t) => t.includes('kube-proxy: iptables mode, masqueradeAll=false'),
      'the rule path',
      30_000,
    );
    expect(s).toMatch(/mysql \(10\.96\.\d+\.\d+:3306\) from 192\.168\.10\.10:\d+: no answer within \d+(\.\d+)? ms/);
    expect(s).toMatch(/node1 request 192\.168\.10\.10:\d+ → 10\.96\.\d+\.\d+:3306 \(syn\)/);
    // the rule itself (its meaning may wrap onto the next line)
    expect(s).toMatch(/nat KUBE-SEP-\w+ #\d+: .*dnat to 10\.244\.2\.2:3306 → accept/);
  });

  it('the panel scrolls to the summary, Esc closes it, and the trace left nothing in the lab', async () => {
    // down until the summary's last line (the vpn's) is on screen: long rules wrap, so how far is the screen's to say
    const summaryEnd = /vpn reply 10\.244\.2\.2:3306 → 192\.168\.10\.10:\d+ .*dropped/;
    let s = terminal.screen();
    for (let i = 0; i < 120 && !(s.includes('Rule path:') && summaryEnd.test(s.slice(s.indexOf('Rule path:')))); i++) {
      await keys('Down');
      s = terminal.screen();
    }
    s = await waitFor(
      (t) => /vpn reply 10\.244\.2\.2:3306 → 192\.168\.10\.10:\d+ .*dropped/.test(t),
      'the summary',
      5000,
    );
    // the summary's lines wrap in the panel: read them as one text
    const panelText = s
      .split('\n')
      .map((l) =>
        l
          .replace(/^[^│]*│/, '')
          .replace(/│[^│]*$/, '')
          .trim(),
      )
      .join(' ');
    expect(panelText).toMatch(
      /Rule path: node1 request .*?DNAT to 10\.244\.2\.2:3306; no KUBE-MARK-MASQ: clusterCIDR unset/,
    );
    await keys('Escape');
    await waitFor((t) => !t.includes('Which rule'), 'the panel to close', 5000);
    expect(await traceLeftovers(PREFIX)).toEqual([]);
  });

  it('q stops the TUI and takes its lab down', async () => {
    // Esc first: q in a panel closes the panel
    await keys('Escape', 'q');
    await waitFor((t) => t.includes('natscope exited 0'), 'natscope to exit', 60_000);
    expect(existsSync(`/run/netns/${netnsName(PREFIX, 'office')}`)).toBe(false);
  });
});
