// Legacy iptables' rule tracing (xt TRACE) turned into the same trace
// records nftrace gives (traceLine.ts), so one rule path serves both.
//
// A traced packet (its trace bit set by natscope's table, traceTable.ts)
// that matches a rule of an iptables-legacy table is logged by the kernel
// as "TRACE: <table>:<chain>:<type>:<n>" (net/ipv4/netfilter/ip_tables.c,
// trace_packet): type "rule" is the chain's n-th rule, "return" and
// "policy" the end of a user chain or a built-in one (n is then one past
// its last rule). The log names no rule text, so each is looked up in the
// host's `iptables-legacy-save`, read while the rules were those the packet
// met (a lab's rules do not change during a trace: traceLock.ts). The log
// carries no packet id either: a packet starts where the first table,
// raw, logs it (natscope makes sure each traced host has one), and where
// its IP identification field changes.

import { safeLine } from '../util/terminal.js';
import type { NflogRecord } from './nflog.js';
import type { PacketFields, TraceRecord, Verdict } from './traceLine.js';

export interface XtTraceLine {
  table: string;
  chain: string;
  type: 'rule' | 'return' | 'policy';
  // 1-based position in the chain
  n: number;
}

export interface SavedChain {
  // a built-in chain's policy (ACCEPT, DROP); null for a user chain
  policy: string | null;
  // each rule as iptables-save prints it, without "-A <chain> "
  rules: string[];
}

// table → chain → its rules
export type SavedRules = Map<string, Map<string, SavedChain>>;

// iptables' own limits: table names are short, chain names at most 28 characters
const TABLE = /^[a-z]{1,16}$/;
const CHAIN = /^[A-Za-z0-9_.-]{1,28}$/;

// How every log line of one table's chain begins (what parseXtPrefix reads
// in full): enough to tell, without parsing, where a packet's log is.
export function xtChainPrefix(table: string, chain: string): string {
  return `TRACE: ${table}:${chain}:`;
}

export function parseXtPrefix(prefix: string): XtTraceLine | null {
  const m = /^TRACE: ([^:]+):([^:]+):(rule|return|policy):(\d{1,6}) ?$/.exec(prefix);
  if (!m) return null;
  const [, table = '', chain = '', type = '', n = ''] = m;
  if (!TABLE.test(table) || !CHAIN.test(chain)) return null;
  if (type !== 'rule' && type !== 'return' && type !== 'policy') return null;
  return { table, chain, type, n: Number(n) };
}

// The rules of `iptables-legacy-save` (every table it prints); lines of another shape are left out.
export function parseSave(text: string): SavedRules {
  const tables: SavedRules = new Map();
  let current: Map<string, SavedChain> | null = null;
  for (const line of text.split('\n')) {
    const table = /^\*([a-z]{1,16})$/.exec(line);
    if (table) {
      current = new Map();
      tables.set(table[1] ?? '', current);
      continue;
    }
    if (!current) continue;
    const chain = /^:(\S{1,28}) (\S+) \[\d+:\d+\]$/.exec(line);
    if (chain && CHAIN.test(chain[1] ?? '')) {
      current.set(chain[1] ?? '', { policy: chain[2] === '-' ? null : (chain[2] ?? null), rules: [] });
      continue;
    }
    const rule = /^-A (\S{1,28}) (.*)$/.exec(line);
    if (rule) current.get(rule[1] ?? '')?.rules.push(rule[2] ?? '');
  }
  return tables;
}

const TERMINAL: Record<string, Verdict['kind']> = {
  ACCEPT: 'accept',
  DROP: 'drop',
  RETURN: 'return',
  // the rule sends the ICMP error and drops the packet (nftrace reports a reject as a drop too)
  REJECT: 'drop',
  // NAT targets bind the mapping and accept the packet for this table
  DNAT: 'accept',
  SNAT: 'accept',
  MASQUERADE: 'accept',
  REDIRECT: 'accept',
};

// What a rule's target did with the packet: a user chain is jumped to (or
// gone to with -g), a terminal target decides, any other target (MARK, LOG,
// …) lets the packet go on to the next rule.
export function verdictOfRule(rule: string, chains: ReadonlyMap<string, SavedChain>): Verdict {
  const target = / -([jg]) (\S+)/.exec(` ${rule}`);
  if (!target) return { kind: 'continue', target: null };
  const [, flag, name = ''] = target;
  if (chains.has(name) && chains.get(name)?.policy === null)
    return { kind: flag === 'g' ? 'goto' : 'jump', target: name };
  return { kind: TERMINAL[name] ?? 'continue', target: null };
}

function policyVerdict(policy: string | null): Verdict {
  return { kind: policy === 'DROP' ? 'drop' : 'accept', target: null };
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

// The trace records of one host's xt TRACE log, with its saved rules; a
// log line natscope cannot read, or naming a rule the save does not have,
// is counted in `skipped`.
export function xtRecords(logged: NflogRecord[], saved: SavedRules): { records: TraceRecord[]; skipped: number } {
  const records: TraceRecord[] = [];
  let skipped = 0;
  let packets = 0;
  let current: { id: string; ipId: number | null } | null = null;
  for (const log of logged) {
    const line = parseXtPrefix(log.prefix);
    if (!line) {
      skipped++;
      continue;
    }
    const chains = saved.get(line.table);
    const chain = chains?.get(line.chain);
    if (!chains || !chain) {
      skipped++;
      continue;
    }
    const starts =
      current === null ||
      (line.table === 'raw' && (line.chain === 'PREROUTING' || line.chain === 'OUTPUT')) ||
      (log.ipId !== null && current.ipId !== null && log.ipId !== current.ipId);
    if (starts || current === null) {
      packets++;
      current = { id: hex8(packets), ipId: log.ipId };
      const packet: PacketFields | null = log.packet;
      if (packet)
        records.push({ id: current.id, family: 'ip', table: line.table, chain: line.chain, kind: 'packet', packet });
    }
    const where = { id: current.id, family: 'ip' as const, table: line.table, chain: line.chain };
    const explicit = chain.rules[line.n - 1];
    if (line.type === 'policy' && explicit === undefined)
      records.push({ ...where, kind: 'policy', verdict: policyVerdict(chain.policy) });
    else if (line.type === 'return' && explicit === undefined)
      records.push({
        ...where,
        kind: 'rule',
        rule: 'end of chain',
        handle: null,
        verdict: { kind: 'return', target: null },
      });
    else if (explicit !== undefined)
      records.push({
        ...where,
        kind: 'rule',
        rule: safeLine(explicit),
        handle: null,
        verdict: verdictOfRule(explicit, chains),
      });
    else skipped++;
  }
  return { records, skipped };
}
