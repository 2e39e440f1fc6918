// The only module that knows blessed: one full-screen box that shows the
// frame the view computed, key presses out, resize events out. blessed has
// had no release since 2016, so it stays this thin.

import blessed from 'blessed';
import { colourWanted } from './colours.js';
import type { Key } from './keys.js';
import { toTags, type Line } from './text.js';

export interface TerminalIo {
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  // terminfo name; defaults to $TERM
  terminal?: string;
  env?: NodeJS.ProcessEnv;
}

export interface TuiScreen {
  readonly cols: number;
  readonly rows: number;
  readonly colour: boolean;
  paint(frame: Line[]): void;
  onKey(handler: (key: Key) => void): void;
  onResize(handler: () => void): void;
  // the text on screen, row by row (what a terminal would show)
  text(): string[];
  // leaves the alternate screen, shows the cursor, restores the tty mode; idempotent
  destroy(): void;
}

export function openScreen(io: TerminalIo = {}): TuiScreen {
  const env = io.env ?? process.env;
  const input = io.input ?? process.stdin;
  const output = io.output ?? process.stdout;
  let destroyed = false;
  // A terminal that hung up (SIGHUP, a closed tmux pane) fails reads and
  // writes with EIO. Unhandled, that error would end the process before its
  // cleanups stop the lab; handled, drawing just stops.
  const hungUp = () => {
    destroyed = true;
  };
  input.on('error', hungUp);
  output.on('error', hungUp);
  const screen = blessed.screen({
    input: input as never,
    output: output as never,
    terminal: io.terminal ?? terminalName(env.TERM),
    smartCSR: true,
    fullUnicode: false,
    warnings: false,
    autoPadding: false,
    title: 'natscope',
  });
  // A UTF-8 terminal gets box lines as UTF-8: blessed would switch to the
  // DEC line-drawing set instead, which `tmux capture-pane` and screen
  // readers see as letters (q, x).
  const tput = screen.tput as unknown as { unicode?: boolean; brokenACS?: boolean; colors?: number };
  if (tput.unicode) tput.brokenACS = true;
  const box = blessed.box({ parent: screen, top: 0, left: 0, width: '100%', height: '100%', tags: true, wrap: false });
  const colour = colourWanted(env, tput.colors);
  return {
    get cols() {
      return screen.width as number;
    },
    get rows() {
      return screen.height as number;
    },
    colour,
    paint(frame) {
      if (destroyed) return;
      box.setContent(frame.map((line) => toTags(line, colour)).join('\n'));
      screen.render();
    },
    onKey(handler) {
      screen.on('keypress', (ch: string | undefined, key: { full?: string; name?: string } | undefined) => {
        // blessed reports Enter twice ("return", then "enter"): keep one
        if (key?.name === 'return') return;
        const full = key?.full ?? ch;
        if (!full) return;
        handler(ch === undefined ? { full } : { full, ch });
      });
    },
    onResize(handler) {
      screen.on('resize', handler);
    },
    text() {
      const lines = (screen as unknown as { lines: [unknown, string][][] }).lines;
      return lines.map((row) => row.map((cell) => cell[1]).join(''));
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        screen.destroy();
      } catch {
        // the terminal is gone: nothing left to restore
      }
    },
  };
}

// blessed parses terminfo itself and fails on tmux-256color and
// screen-256color as ncurses 6 compiles them, then falls back to 8-colour
// xterm; tmux and screen speak xterm's sequences, so name the one blessed
// ships a working copy of.
export function terminalName(term: string | undefined): string {
  if (!term) return 'xterm';
  if (/^(tmux|screen)/.test(term) && term.includes('256color')) return 'xterm-256color';
  return term;
}
