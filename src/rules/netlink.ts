// Whether `nft monitor trace` is listening yet, and whether it has read all
// the kernel sent it, from its netlink socket as /proc/PID/net/netlink
// shows it (the sockets of the process's network namespace, one line each:
//   sk  Eth Pid  Groups   Rmem Wmem Dump Locks Drops Inode
// ). The monitor's socket is the one whose inode is among its open files:
// it has joined the trace group once bit 8 of Groups is set (group 9,
// NFNLGRP_NFTRACE), and nothing waits for it to read when Rmem is 0.
// Asking the kernel this way needs no test packet.

import { readdir, readFile, readlink } from 'node:fs/promises';

export const NETLINK_NETFILTER = 12;
export const NFNLGRP_NFTRACE = 9;

export interface NetlinkSocket {
  protocol: number;
  groups: number;
  rmem: number;
  inode: number;
}

// The lines of /proc/PID/net/netlink; lines that are not sockets are skipped.
export function parseNetlinkTable(text: string): NetlinkSocket[] {
  const out: NetlinkSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9a-f]+$/.test(f[0]!)) continue;
    const [protocol, groups, rmem, inode] = [Number(f[1]), Number.parseInt(f[3]!, 16), Number(f[4]), Number(f[9])];
    if ([protocol, groups, rmem, inode].some((n) => !Number.isSafeInteger(n) || n < 0)) continue;
    out.push({ protocol, groups, rmem, inode });
  }
  return out;
}

export function joinedTraceGroup(s: NetlinkSocket): boolean {
  return s.protocol === NETLINK_NETFILTER && (s.groups & (1 << (NFNLGRP_NFTRACE - 1))) !== 0;
}

// The process's socket inodes (its fds that are sockets).
async function socketInodes(pid: number): Promise<Set<number>> {
  const inodes = new Set<number>();
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(Number(m[1]));
  }
  return inodes;
}

// The trace socket of process `pid`, if it has joined the group.
export async function traceSocketOf(pid: number): Promise<NetlinkSocket | null> {
  const text = await readFile(`/proc/${pid}/net/netlink`, 'utf8').catch(() => '');
  const mine = await socketInodes(pid);
  return parseNetlinkTable(text).find((s) => mine.has(s.inode) && joinedTraceGroup(s)) ?? null;
}
