import { describe, expect, it } from 'vitest';
import { ansiToSvg, applySgr } from '../../../scripts/docs/ansiSvg.js';

const texts = (svg: string) =>
  [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map((m) => ({ attrs: m[1]!, text: m[2]! }));

describe('ansiToSvg', () => {
  it('writes each run of same-styled text at its column, stretched to its cells', () => {
    const svg = ansiToSvg('ab\x1b[31mcd\x1b[39mef', { fontSize: 10 });
    const runs = texts(svg);
    expect(runs.map((r) => r.text)).toEqual(['ab', 'cd', 'ef']);
    // 0.6 em per cell, 12 px padding
    expect(runs[1]!.attrs).toContain('x="24"');
    expect(runs[1]!.attrs).toContain('textLength="12"');
    expect(runs[1]!.attrs).toContain('fill="#e06c75"');
  });

  it('draws inverse text as a filled cell, and keeps bold', () => {
    const svg = ansiToSvg('\x1b[1;7m q \x1b[0m quit');
    expect(svg).toMatch(/<rect x="12" y="12" width="[\d.]+" height="18" fill="#d0d0d0"\/>/);
    expect(texts(svg)[0]!.attrs).toContain('font-weight="bold"');
    expect(texts(svg)[0]!.attrs).toContain('fill="#1d1f21"');
  });

  it('escapes XML and skips escapes that are not colours', () => {
    const svg = ansiToSvg('a<b & "c"\x1b(B\x1b[?25l');
    expect(texts(svg)[0]!.text).toBe('a&lt;b &amp; &quot;c&quot;');
  });

  it('sizes the image from the terminal size and carries styles across lines', () => {
    const svg = ansiToSvg('\x1b[32mgreen\nstill green', { cols: 80, rows: 2, fontSize: 10 });
    expect(svg).toContain('width="504" height="50"');
    expect(texts(svg).every((r) => r.attrs.includes('fill="#98c379"'))).toBe(true);
  });

  it('reads 256-colour and true-colour codes', () => {
    expect(
      applySgr(
        applySgr({ fg: null, bg: null, bold: false, dim: false, inverse: false, underline: false }, '38;5;196'),
        '48;2;1;2;3',
      ),
    ).toMatchObject({
      fg: 'rgb(255,0,0)',
      bg: 'rgb(1,2,3)',
    });
  });
});
