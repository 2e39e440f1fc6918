// Untrusted text made safe for a terminal. A recording is shared (a
// workshop hands one around), a kernel symbol or a cluster object's name
// comes from elsewhere: a string from any of them could carry escape
// sequences that clear the screen, retitle the window, or forge a line. Every
// frontend passes such text through here where it writes it: control
// characters (C0, DEL, C1: ESC and CSI among them) and invisible formatting
// characters (bidi overrides, zero-width ones, line separators) are shown
// escaped, e.g. "\x1b[2J" instead of a cleared screen. The escaped form holds
// only printable characters, so escaping twice changes nothing.

// One-line text: newlines and tabs are escaped too (a forged line break could fake an event).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const LINE_UNSAFE = /[\x00-\x1f\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const LINE_UNSAFE_ALL = /[\x00-\x1f\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
// Text of several lines (a routing table, a paragraph): newlines and tabs stay.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const TEXT_UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds
const TEXT_UNSAFE_ALL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

function escaped(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

// One line as a terminal may show it.
export function safeLine(text: string): string {
  return LINE_UNSAFE.test(text) ? text.replace(LINE_UNSAFE_ALL, escaped) : text;
}

// Lines as a terminal may show them (line breaks kept).
export function safeText(text: string): string {
  return TEXT_UNSAFE.test(text) ? text.replace(TEXT_UNSAFE_ALL, escaped) : text;
}

// JSON.stringify escapes C0 controls but writes DEL, C1 controls and
// invisible formatting characters as they are: a terminal showing `--json`
// output would act on a C1 CSI. These become \u escapes: the same JSON value.
const JSON_UNSAFE = /[\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/u;
const JSON_UNSAFE_ALL = /[\x7f-\x9f\p{Cf}\p{Zl}\p{Zp}]/gu;

function jsonEscaped(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

// JSON text safe for a terminal, and exactly the value JSON.stringify would give.
export function jsonLine(value: unknown): string {
  const text = JSON.stringify(value);
  return JSON_UNSAFE.test(text) ? text.replace(JSON_UNSAFE_ALL, jsonEscaped) : text;
}
