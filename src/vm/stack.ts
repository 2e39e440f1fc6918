// The micro-VM's stacks: which kernel it boots and whose userland (bpftrace,
// iproute2, iptables, Node.js) the lab and the probes run on there.
//   debian12  Debian 12's kernel (6.1) from this host's apt sources, and this
//             host's own root filesystem, shared read-only (its bpftrace:
//             0.17 on Debian 12)
//   debian13  Debian 13's kernel (6.12) and a Debian 13 root filesystem
//             (bpftrace 0.23, Node.js 20.19), both from Debian's archive
//             through a private apt configuration and debootstrap, cached;
//             natscope's own checkout is shared in at the same path
// A command picks one with --stack; `--vm` runs of trace, tui, demo and lab
// (and the tests) with NATSCOPE_VM_STACK.

import { join } from 'node:path';
import { NatscopeError, EXIT } from '../errors.js';

export type Stack = 'debian12' | 'debian13';

export const STACKS: readonly Stack[] = Object.freeze(['debian12', 'debian13']);
export const DEFAULT_STACK: Stack = 'debian12';

export interface StackInfo {
  name: Stack;
  summary: string;
  // where its kernel package comes from: this host's apt sources (null), or
  // this Debian suite through a private apt configuration
  suite: string | null;
  // its root filesystem: this host's, or one built with debootstrap
  root: 'host' | 'debootstrap';
}

export const STACK_INFO: Record<Stack, StackInfo> = {
  debian12: {
    name: 'debian12',
    summary: "Debian 12's kernel (6.1), this host's own root filesystem (its bpftrace and Node.js)",
    suite: null,
    root: 'host',
  },
  debian13: {
    name: 'debian13',
    summary: "Debian 13's kernel (6.12) and a Debian 13 root filesystem (bpftrace 0.23, Node.js 20)",
    suite: 'trixie',
    root: 'debootstrap',
  },
};

export function isStack(text: string): text is Stack {
  return (STACKS as readonly string[]).includes(text);
}

export function parseStack(text: string, where = '--stack'): Stack {
  const name = text.trim();
  if (isStack(name)) return name;
  throw new NatscopeError(`${where} "${text}" is not a micro-VM stack`, {
    hint: `use one of: ${STACKS.join(', ')}`,
    exitCode: EXIT.usage,
  });
}

// The stack a command asked for, else NATSCOPE_VM_STACK, else debian12.
export function selectedStack(explicit?: string): Stack {
  if (explicit !== undefined) return parseStack(explicit);
  const fromEnv = process.env.NATSCOPE_VM_STACK;
  if (fromEnv) return parseStack(fromEnv, 'NATSCOPE_VM_STACK');
  return DEFAULT_STACK;
}

export function cacheRoot(): string {
  return process.env.NATSCOPE_CACHE ?? '/var/cache/natscope';
}

// Where a stack's kernels (and root filesystem) are cached. Debian 12's
// kernels stay where natscope always kept them.
export function stackCacheDir(stack: Stack, root = cacheRoot()): string {
  return stack === 'debian12' ? root : join(root, stack);
}

// Debian's archive, for the private apt configuration and debootstrap (a
// local mirror can stand in: NATSCOPE_DEBIAN_MIRROR).
export function debianMirror(): string {
  return process.env.NATSCOPE_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
}
