import { describe, expect, it } from 'vitest';
import { fit, overlay, plain, seg, slice, toTags, truncate, width, wrap } from '../../tui/text.js';

describe('styled text', () => {
  const line = [seg('node1', { fg: 'green' }), seg(' → '), seg('vpn', { fg: 'magenta', bold: true })];

  it('measures and slices by columns, keeping styles', () => {
    expect(width(line)).toBe(11);
    expect(slice(line, 3, 7)).toEqual([seg('e1', { fg: 'green' }), seg(' →')]);
  });

  it('truncates with an ellipsis and pads to an exact width', () => {
    expect(plain(truncate(line, 6))).toBe('node1…');
    expect(plain(fit(line, 14))).toBe('node1 → vpn   ');
    expect(width(fit(line, 4))).toBe(4);
  });

  it('overlays one line on another at a column', () => {
    expect(plain(overlay([seg('..........')], [seg('ab')], 3))).toBe('...ab.....');
  });

  it('wraps at a separator where it can, else at a space, indenting what follows', () => {
    const path = [seg('office → vpn → node1 [DNAT a ⇒ b] → node2 → mysql')];
    expect(wrap(path, 24, ' → ').map(plain)).toEqual(['office → vpn → ', '  node1 [DNAT a ⇒ b] → ', '  node2 → mysql']);
    expect(wrap([seg('aaaa bbbb cccc')], 8, ' → ', 0).map(plain)).toEqual(['aaaa ', 'bbbb ', 'cccc']);
  });

  it('writes blessed tags, escaping braces, and drops colours when asked', () => {
    expect(toTags(line, true)).toBe('{green-fg}node1{/} → {magenta-fg}{bold}vpn{/}');
    expect(toTags(line, false)).toBe('node1 → {bold}vpn{/}');
    expect(toTags([seg('{x}')], true)).toBe('{open}x{close}');
  });

  it('shows control characters in a segment escaped, and measures what is drawn', () => {
    const hostile = seg('vpn\u001b[2J\u001b]0;pwned\u0007\u009b', { fg: 'red' });
    expect(hostile.text).toBe('vpn\\x1b[2J\\x1b]0;pwned\\x07\\x9b');
    expect(width([hostile])).toBe(hostile.text.length);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
    expect(toTags([hostile], true)).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});
