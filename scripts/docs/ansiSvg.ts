// A terminal capture (text with SGR colour escapes, as `tmux capture-pane
// -e -p` prints it) as an SVG image, so the README can show the TUI to a
// visitor before they install anything. Each run of same-styled cells is one
// <text> stretched to exactly its cells, so the grid holds whatever
// monospace font the viewer has.

export interface SvgOptions {
  cols?: number;
  rows?: number;
  fontSize?: number;
  title?: string;
}

interface Style {
  fg: string | null;
  bg: string | null;
  bold: boolean;
  dim: boolean;
  inverse: boolean;
  underline: boolean;
}

interface Run {
  col: number;
  text: string;
  style: Style;
}

// A dark theme's 16 colours (xterm order: black red green yellow blue magenta cyan white, then bright)
const BASE16 = [
  '#1d1f21',
  '#e06c75',
  '#98c379',
  '#e5c07b',
  '#61afef',
  '#c678dd',
  '#56b6c2',
  '#d0d0d0',
  '#6b7280',
  '#ff7b86',
  '#b5e890',
  '#ffd787',
  '#7fc4ff',
  '#de95f0',
  '#7fdbe6',
  '#ffffff',
];
const FG = '#d0d0d0';
const BG = '#1d1f21';

function colour256(n: number): string {
  if (n < 16) return BASE16[n]!;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const step = (c: number) => (c === 0 ? 0 : 55 + c * 40);
  return `rgb(${step(Math.floor(i / 36))},${step(Math.floor(i / 6) % 6)},${step(i % 6)})`;
}

const plainStyle = (): Style => ({ fg: null, bg: null, bold: false, dim: false, inverse: false, underline: false });

// Applies one SGR sequence's parameters (e.g. "1;38;5;196") to a style.
export function applySgr(style: Style, params: string): Style {
  const s = { ...style };
  const codes = params === '' ? [0] : params.split(';').map((p) => Number(p || 0));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i]!;
    if (c === 0) Object.assign(s, plainStyle());
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c >= 30 && c <= 37) s.fg = BASE16[c - 30]!;
    else if (c >= 90 && c <= 97) s.fg = BASE16[c - 90 + 8]!;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = BASE16[c - 40]!;
    else if (c >= 100 && c <= 107) s.bg = BASE16[c - 100 + 8]!;
    else if (c === 49) s.bg = null;
    else if (c === 38 || c === 48) {
      let value: string | null = null;
      if (codes[i + 1] === 5) {
        value = colour256(codes[i + 2] ?? 0);
        i += 2;
      } else if (codes[i + 1] === 2) {
        value = `rgb(${codes[i + 2] ?? 0},${codes[i + 3] ?? 0},${codes[i + 4] ?? 0})`;
        i += 4;
      }
      if (c === 38) s.fg = value;
      else s.bg = value;
    }
  }
  return s;
}

const same = (a: Style, b: Style) =>
  a.fg === b.fg &&
  a.bg === b.bg &&
  a.bold === b.bold &&
  a.dim === b.dim &&
  a.inverse === b.inverse &&
  a.underline === b.underline;

// One captured line as runs of same-styled text. The style carries over
// from line to line, as it does in a terminal.
function parseLine(line: string, start: Style): { runs: Run[]; end: Style } {
  const runs: Run[] = [];
  let style = start;
  let col = 0;
  // SGR sequences change the style; other escapes (charset, cursor) are skipped
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
  const re = /\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b.|([^\x1b]+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    if (m[3] !== undefined) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
      const text = m[3].replace(/[\x00-\x1f]/g, '');
      const last = runs[runs.length - 1];
      if (last && same(last.style, style) && last.col + last.text.length === col) last.text += text;
      else runs.push({ col, text, style });
      col += text.length;
    } else if (m[2] === 'm' && !m[1]?.includes('?')) {
      style = applySgr(style, m[1] ?? '');
    }
  }
  return { runs, end: style };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

export function ansiToSvg(capture: string, options: SvgOptions = {}): string {
  const lines = capture.replace(/\n$/, '').split('\n');
  const parsed: Run[][] = [];
  let style = plainStyle();
  for (const line of lines) {
    const { runs, end } = parseLine(line, style);
    parsed.push(runs);
    style = end;
  }
  const cols =
    options.cols ?? Math.max(1, ...parsed.map((r) => r.reduce((n, x) => Math.max(n, x.col + x.text.length), 0)));
  const rows = options.rows ?? lines.length;
  const size = options.fontSize ?? 14;
  const cw = size * 0.6;
  const lh = Math.round(size * 1.3);
  const pad = 12;
  const width = Math.ceil(cols * cw + pad * 2);
  const height = rows * lh + pad * 2;
  const fmt = (n: number) => Number(n.toFixed(2)).toString();
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    ...(options.title ? [`<title>${escapeXml(options.title)}</title>`] : []),
    `<rect width="100%" height="100%" rx="6" fill="${BG}"/>`,
    `<g font-family="'DejaVu Sans Mono','Menlo','Consolas',monospace" font-size="${size}" xml:space="preserve">`,
  ];
  parsed.slice(0, rows).forEach((runs, row) => {
    const y = pad + row * lh;
    for (const run of runs) {
      const fg = run.style.inverse ? (run.style.bg ?? BG) : (run.style.fg ?? FG);
      const bg = run.style.inverse ? (run.style.fg ?? FG) : run.style.bg;
      const x = pad + run.col * cw;
      const w = run.text.length * cw;
      if (bg) out.push(`<rect x="${fmt(x)}" y="${y}" width="${fmt(w)}" height="${lh}" fill="${bg}"/>`);
      if (run.text.trim() === '') continue;
      const attrs = [
        `x="${fmt(x)}"`,
        `y="${fmt(y + lh * 0.75)}"`,
        `textLength="${fmt(w)}"`,
        'lengthAdjust="spacingAndGlyphs"',
        `fill="${fg}"`,
      ];
      if (run.style.bold) attrs.push('font-weight="bold"');
      if (run.style.dim) attrs.push('opacity="0.7"');
      if (run.style.underline) attrs.push('text-decoration="underline"');
      out.push(`<text ${attrs.join(' ')}>${escapeXml(run.text)}</text>`);
    }
  });
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}
