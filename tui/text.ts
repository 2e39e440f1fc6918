// Styled text as plain data: a line is a list of segments, each with an
// optional style. The view builds whole screens out of these, so tests can
// read a frame as strings; only the blessed edge turns them into tags.
// Every character the TUI draws (ASCII, arrows, ✓ ✗ …, box lines) is one
// column wide, so a line's width is its length in UTF-16 units.
// Text reaches the screen only through segments, and every segment is made
// safe for a terminal as it is made: names and strings from a recording, the
// kernel or the lab show their control characters escaped ("\x1b"), and
// widths are measured on what is drawn. (blessed itself removes most C0
// controls but lets colour sequences, ESC [ … m, and C1 controls through.)

import { safeLine } from '../src/util/terminal.js';

export type Colour =
  | 'red'
  | 'green'
  | 'yellow'
  | 'blue'
  | 'magenta'
  | 'cyan'
  | 'white'
  | 'gray'
  | 'light-blue'
  | 'light-cyan'
  | 'light-magenta'
  | 'light-green'
  | 'light-yellow';

export interface Style {
  fg?: Colour;
  bold?: boolean;
  inverse?: boolean;
  underline?: boolean;
}

export interface Seg {
  text: string;
  style?: Style;
}

export type Line = Seg[];

export function seg(text: string, style?: Style): Seg {
  const safe = safeLine(text);
  return style ? { text: safe, style } : { text: safe };
}

export function width(line: Line): number {
  let n = 0;
  for (const s of line) n += s.text.length;
  return n;
}

export function plain(line: Line): string {
  return line.map((s) => s.text).join('');
}

// Columns [from, to) of a line, styles kept.
export function slice(line: Line, from: number, to = Infinity): Line {
  const out: Line = [];
  let col = 0;
  for (const s of line) {
    const end = col + s.text.length;
    if (end > from && col < to) {
      const text = s.text.slice(Math.max(0, from - col), Math.min(s.text.length, to - col));
      if (text) out.push(s.style ? { text, style: s.style } : { text });
    }
    col = end;
    if (col >= to) break;
  }
  return out;
}

// At most `cols` wide; a cut line ends in "…" so the reader knows there is more.
export function truncate(line: Line, cols: number): Line {
  if (width(line) <= cols) return line;
  if (cols <= 0) return [];
  const cut = slice(line, 0, cols - 1);
  const last = cut[cut.length - 1];
  cut.push(last?.style ? { text: '…', style: last.style } : { text: '…' });
  return cut;
}

// Exactly `cols` wide: truncated or padded with spaces (in `fill`'s style).
export function fit(line: Line, cols: number, fill?: Style): Line {
  const cut = truncate(line, cols);
  const pad = cols - width(cut);
  return pad > 0 ? [...cut, seg(' '.repeat(pad), fill)] : cut;
}

// Replaces columns [at, at + width(over)) of `base` with `over`.
export function overlay(base: Line, over: Line, at: number): Line {
  const end = at + width(over);
  return [...slice(base, 0, at), ...over, ...slice(base, end)];
}

// Splits text into lines of at most `cols`, breaking after `sep` where it
// can (a flow path breaks between hops); continuation lines are indented.
export function wrap(line: Line, cols: number, sep: string, indent = 2): Line[] {
  const out: Line[] = [];
  let rest = line;
  let first = true;
  while (width(rest) > 0) {
    const room = first ? cols : cols - indent;
    if (room <= 0) break;
    let cut = width(rest);
    if (cut > room) {
      const text = plain(rest);
      const at = text.lastIndexOf(sep, room - sep.length);
      const space = text.lastIndexOf(' ', room - 1);
      cut = at > 0 ? at + sep.length : space > 0 ? space + 1 : room;
    }
    const head = slice(rest, 0, cut);
    out.push(first ? head : [seg(' '.repeat(indent)), ...head]);
    rest = slice(rest, cut);
    first = false;
  }
  return out;
}

// blessed's tag syntax for one line. Without colour only the attributes
// that need none stay (bold, inverse, underline), as NO_COLOR asks.
export function toTags(line: Line, colour: boolean): string {
  let out = '';
  for (const s of line) {
    const text = s.text.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
    const st = s.style;
    if (!st) {
      out += text;
      continue;
    }
    let open = '';
    if (st.fg && colour) open += `{${st.fg}-fg}`;
    if (st.bold) open += '{bold}';
    if (st.inverse) open += '{inverse}';
    if (st.underline) open += '{underline}';
    out += open ? `${open}${text}{/}` : text;
  }
  return out;
}
