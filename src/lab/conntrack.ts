// Parses `conntrack -L` lines, e.g.
//   tcp 6 118 SYN_SENT src=192.168.10.10 dst=10.96.207.61 sport=41000 dport=3306 [UNREPLIED]
//       src=10.244.2.2 dst=192.168.10.10 sport=3306 dport=41000 mark=0 use=1
// The first src/dst/sport/dport group is the original tuple, the second the
// reply tuple: the reply tuple is where conntrack expects the answer from.

import type { ConntrackEntry, Tuple } from '../events/types.js';

// declared with the observation events that record it (src/events/types.ts)
export type { ConntrackEntry };

const GROUP = /src=(\S+) dst=(\S+)(?: sport=(\d+) dport=(\d+))?/g;

export function parseConntrack(text: string): ConntrackEntry[] {
  const entries: ConntrackEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('conntrack v')) continue;
    const groups = [...line.matchAll(GROUP)];
    if (groups.length < 2) continue;
    const tuple = (m: RegExpMatchArray): Tuple => ({
      src: m[1]!,
      dst: m[2]!,
      sport: m[3] ? Number(m[3]) : 0,
      dport: m[4] ? Number(m[4]) : 0,
    });
    const head = line.slice(0, line.indexOf('src=')).trim().split(/\s+/);
    const state = head.length >= 4 ? head[3]! : null;
    entries.push({
      proto: head[0] ?? '?',
      state,
      orig: tuple(groups[0]!),
      reply: tuple(groups[1]!),
      flags: [...line.matchAll(/\[(\w+)\]/g)].map((m) => m[1]!),
      line,
    });
  }
  return entries;
}
