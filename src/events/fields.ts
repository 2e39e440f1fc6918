// The field rules the event schemas (types.ts) are built from: a time, a
// port, a count, an IPv4 address, a CIDR. Each says in words what it wants,
// so a decoding error reads "packet.sport should be a port number (a whole
// number 0-65535), got -70000" whatever field it is.

import { z } from 'zod';
import { parseCidr, parseIPv4 } from './tuple.js';

// A value as an error quotes it: short, and JSON so that a string shows its quotes.
export function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value);
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

// The error function of a rule: what the field should be, and what it was.
export function wants(what: string): (issue: { input?: unknown }) => string {
  return (issue) => (issue.input === undefined ? 'is missing' : `should be ${what}, got ${shown(issue.input)}`);
}

// A whole number in [min, max]; zod's int() already refuses what is not a safe integer.
export function wholeNumber(min: number, max: number, what: string) {
  const error = wants(what);
  return z.int({ error }).min(min, { error }).max(max, { error });
}

// CLOCK_MONOTONIC nanoseconds, as the kernel's u64: 1e308 or -5 is no time a
// kernel gives. Past 2^53 (a machine up 104 days, common for a cluster's
// nodes) a double holds them to a few nanoseconds, not exactly: still a time,
// so not refused as safe-integer rules would.
const NANOSECONDS = 'a whole number of nanoseconds ≥ 0';
// the kernel's u64 as a double (2^64 - 1 rounds to it)
export const MAX_U64 = 2 ** 64;
export const nanoseconds = z
  .number({ error: wants(NANOSECONDS) })
  .min(0, { error: wants(NANOSECONDS) })
  .max(MAX_U64, { error: wants(NANOSECONDS) })
  .refine(Number.isInteger, { error: wants(NANOSECONDS) });
export const port = wholeNumber(0, 65535, 'a port number (a whole number 0-65535)');
export const count = wholeNumber(0, Number.MAX_SAFE_INTEGER, 'a count (a whole number ≥ 0)');
// a network namespace is named by a 32-bit inode number (proc_inum)
export const MAX_INODE = 0xffffffff;
export const inode = wholeNumber(0, MAX_INODE, 'a namespace inode (a whole number ≥ 0)');

// The count rule as a plain check, for hot paths that read numbers outside a schema.
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
export const smallNumber = (what: string) => wholeNumber(0, 0xffffffff, what);

// A measured amount (milliseconds, seconds, a rate): finite and not negative.
export const amount = z.number({ error: wants('a number ≥ 0') }).min(0, { error: wants('a number ≥ 0') });

// The same few addresses recur in every event: each is checked once.
const checkedIPv4 = new Map<string, boolean>();
function isIPv4(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  let ok = checkedIPv4.get(value);
  if (ok === undefined) {
    ok = parseIPv4(value) !== null;
    if (checkedIPv4.size < 65536) checkedIPv4.set(value, ok);
  }
  return ok;
}

// Canonical dotted quad (no leading zeros: iptables would read them as octal).
export const ipv4 = z.custom<string>(isIPv4, { error: wants('an IPv4 address (a.b.c.d, no leading zeros)') });

// A lab address the lab may not know yet (a kind container still starting): "" then.
export const labAddress = z.custom<string>((v) => v === '' || isIPv4(v), {
  error: wants('an IPv4 address (a.b.c.d) or "" when unknown'),
});

export const cidr = z.custom<string>((v) => typeof v === 'string' && parseCidr(v) !== null, {
  error: wants('an IPv4 CIDR (a.b.c.d/n, no host bits set)'),
});
