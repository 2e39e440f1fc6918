// A real terminal for the tests that drive natscope by keys: one tmux
// session on a private server (killing the server touches only this test's
// session), written to with send-keys and read with capture-pane.

import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export class TmuxSession {
  private readonly socket: string;
  private socketPath = '';

  constructor(private readonly name: string) {
    this.socket = `natscope-${name}-${process.pid}-${Date.now()}`;
  }

  run(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  // Starts `command` (a shell line) in a detached width × height window.
  start(command: string, width: number, height: number): void {
    this.run('new-session', '-d', '-s', this.name, '-x', String(width), '-y', String(height), command);
    this.socketPath = this.run('display-message', '-p', '#{socket_path}').trim();
  }

  // The pane's shell: the root of everything the test started in it.
  panePid(): number {
    return Number(this.run('display-message', '-p', '-t', this.name, '#{pane_pid}').trim());
  }

  // The visible screen, and `history` lines above it.
  screen(history = 0): string {
    return this.run('capture-pane', '-p', ...(history ? ['-S', String(-history)] : []), '-t', this.name);
  }

  // One key at a time: Escape followed at once by a letter reads as Alt+letter.
  async keys(...keys: string[]): Promise<void> {
    for (const key of keys) {
      this.run('send-keys', '-t', this.name, key);
      await sleep(key === 'Escape' ? 150 : 80);
    }
  }

  async waitFor(check: (screen: string) => boolean, what: string, ms = 15_000, history = 0): Promise<string> {
    const end = Date.now() + ms;
    let last = '';
    while (Date.now() < end) {
      last = this.screen(history);
      if (check(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}; the screen was:\n${last}`);
  }

  // Kills the server (SIGHUP to what runs in it) and removes the socket file tmux leaves.
  async close(): Promise<void> {
    try {
      this.run('kill-server');
    } catch {
      // already gone
    }
    if (this.socketPath) await rm(this.socketPath, { force: true });
  }
}
