// Renders docs/images/tui-incident.svg from the real TUI: the incident
// recording replayed in a private tmux server, the broken mysql flow
// selected, the pane captured with its colours and converted to SVG.
//   node dist/scripts/docs/screenshot.js [out.svg]      (after npm run build)

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectRoot } from '../../src/util/paths.js';
import { ansiToSvg } from './ansiSvg.js';

const COLS = 120;
const ROWS = 40;

async function main(): Promise<void> {
  const root = projectRoot();
  const out = process.argv[2] ?? join(root, 'docs', 'images', 'tui-incident.svg');
  const socket = `natscope-shot-${process.pid}`;
  const tmux = (...args: string[]) =>
    execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const recording = join(root, 'test', 'fixtures', 'recordings', 'incident.jsonl');
  const command = `env LANG=C.UTF-8 node '${join(root, 'dist', 'src', 'main.js')}' tui --replay '${recording}' --speed 0`;
  tmux('new-session', '-d', '-s', 'shot', '-x', String(COLS), '-y', String(ROWS), command);
  const socketPath = tmux('display-message', '-p', '#{socket_path}').trim();
  try {
    let text = '';
    for (let i = 0; i < 100 && !text.includes('ended)'); i++) {
      await sleep(100);
      text = tmux('capture-pane', '-p', '-t', 'shot');
    }
    if (!text.includes('ended)')) throw new Error(`the replay did not finish; the screen was:\n${text}`);
    // select the broken mysql request (flow #2): its path ends in the vpn's drop
    for (let i = 0; i < 20 && !tmux('capture-pane', '-p', '-t', 'shot').includes('▶#2 '); i++) {
      tmux('send-keys', '-t', 'shot', 'k');
      await sleep(80);
    }
    await sleep(300);
    const capture = tmux('capture-pane', '-e', '-p', '-t', 'shot');
    writeFileSync(
      out,
      ansiToSvg(capture, {
        cols: COLS,
        rows: ROWS,
        title: 'natscope tui replaying the incident: DNAT and SNAT side by side, the VPN drop, the broken flow',
      }),
    );
    tmux('send-keys', '-t', 'shot', 'q');
    await sleep(500);
    process.stdout.write(`${out}\n`);
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
    rmSync(socketPath, { force: true });
  }
}

await main();
