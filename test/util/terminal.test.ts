import { describe, expect, test } from 'vitest';
import { jsonLine, safeLine, safeText } from '../../src/util/terminal.js';

const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007';

describe('text made safe for a terminal', () => {
  test('a recorded host that would clear the screen and retitle the window is shown escaped', () => {
    expect(safeLine(HOSTILE)).toBe('\\x1b[2J\\x1b]0;pwned\\x07');
  });

  test.each([
    ['a C1 control sequence introducer', 'a\u009b31mb', 'a\\x9b31mb'],
    ['DEL', 'a\u007fb', 'a\\x7fb'],
    ['a NUL', 'a\u0000b', 'a\\x00b'],
    ['a carriage return that would overwrite the line', 'ok\rFAKE', 'ok\\x0dFAKE'],
    ['a right-to-left override', 'abc\u202edef', 'abc\\u{202e}def'],
    ['a zero-width space', 'a\u200bb', 'a\\u{200b}b'],
    ['a line separator', 'a\u2028b', 'a\\u{2028}b'],
  ])('%s is shown escaped', (_name, input, shown) => {
    expect(safeLine(input)).toBe(shown);
  });

  test('one line keeps no line break or tab; text of several lines keeps them', () => {
    expect(safeLine('a\nb\tc')).toBe('a\\x0ab\\x09c');
    expect(safeText('a\nb\tc\u001b')).toBe('a\nb\tc\\x1b');
  });

  test('plain text, arrows and other scripts are left as they are, and escaping twice changes nothing', () => {
    const text = 'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306] ✗ NETFILTER_DROP · 東京 é';
    expect(safeLine(text)).toBe(text);
    expect(safeLine(safeLine(HOSTILE))).toBe(safeLine(HOSTILE));
  });

  test('JSON output escapes DEL, C1 and formatting characters and still reads back as the same value', () => {
    const value = { host: `${HOSTILE}\u009b\u007f\u202e\u{e0041}`, n: 1 };
    const line = jsonLine(value);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(line).not.toContain('\u{e0041}');
    expect(JSON.parse(line)).toEqual(value);
    expect(jsonLine({ a: 'plain' })).toBe(JSON.stringify({ a: 'plain' }));
  });
});
