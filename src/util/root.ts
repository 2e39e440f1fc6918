// The one check every command that touches the kernel makes first, so a
// user without root gets one line with the fix, not a failure deep inside.

import { NatscopeError } from '../errors.js';

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new NatscopeError(`${what} needs root (network namespaces, iptables, bpftrace)`, {
      hint: `sudo natscope ${what}`,
    });
  }
}
