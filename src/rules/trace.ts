// Monitor lines (monitor.ts) into packets: one packet's pass through one
// host's rules is the lines of one trace id, from the line natscope's own
// trace chain printed for it (it runs first: the lowest priority) to the
// next such line for the same id. Ids are reused (the kernel derives them
// from the packet buffer), so a line of natscope's chain always starts a
// new packet. Then the packets of one request are picked out: those whose
// addresses the request's connection had on some host, closed over what
// the traces themselves show (after a DNAT a packet's destination is the
// endpoint's, and its reply comes from there).

import { inverse, tupleKey } from '../events/tuple.js';
import type { DropPacket, RuleStep, Tuple } from '../events/types.js';
import type { MonitorLine, TracedPacket } from './monitor.js';

// The table natscope adds to each traced host for the length of one request.
export const TRACE_TABLE = 'natscope-trace';

export type RuleVerdict = 'accept' | 'drop' | 'reject' | 'unknown';

export interface PacketTrace {
  id: string;
  // when its first line arrived (CLOCK_MONOTONIC ns)
  t: number;
  packet: DropPacket;
  // natscope's own rendered/why are added by book.ts
  steps: RuleStep[];
}

const tupleOf = (p: TracedPacket): Tuple => ({ src: p.src, sport: p.sport, dst: p.dst, dport: p.dport });

export class TraceAssembler {
  private readonly open = new Map<string, PacketTrace>();
  private readonly done: PacketTrace[] = [];
  // lines of a trace natscope's chain did not start (another nftrace rule, or before the monitor)
  orphans = 0;

  add(line: MonitorLine, t: number): void {
    const table = `${line.family} ${line.table}`;
    if (line.table === TRACE_TABLE && line.family === 'ip') {
      if (line.kind !== 'packet') return;
      const previous = this.open.get(line.id);
      if (previous) this.done.push(previous);
      const { iif: _iif, oif: _oif, ...packet } = line.packet;
      this.open.set(line.id, { id: line.id, t, packet, steps: [] });
      return;
    }
    const trace = this.open.get(line.id);
    if (!trace) {
      this.orphans++;
      return;
    }
    switch (line.kind) {
      case 'packet':
        trace.steps.push({ kind: 'hook', table, chain: line.chain, packet: tupleOf(line.packet) });
        return;
      case 'rule':
        trace.steps.push({
          kind: 'rule',
          table,
          chain: line.chain,
          handle: line.handle,
          rule: line.rule,
          verdict: line.verdict,
          rendered: null,
          why: null,
        });
        return;
      case 'policy':
      case 'return':
        trace.steps.push({ kind: line.kind, table, chain: line.chain, verdict: line.verdict, mark: line.mark });
        return;
    }
  }

  // Every packet seen, in the order their first lines arrived.
  finish(): PacketTrace[] {
    const all = [...this.done, ...this.open.values()];
    this.open.clear();
    this.done.length = 0;
    return all.sort((a, b) => a.t - b.t);
  }
}

// How the host's rules left the packet, as far as the trace tells.
export function verdictOf(steps: readonly RuleStep[]): RuleVerdict {
  const last = steps.at(-1);
  if (!last || last.kind === 'hook') return 'unknown';
  if (last.verdict === 'drop') {
    return last.kind === 'rule' && /(?:^|\s)(?:reject|REJECT)(?:\s|$)/.test(last.rule) ? 'reject' : 'drop';
  }
  return last.verdict === 'accept' ? 'accept' : 'unknown';
}

// The packets of one connection: seeded with the tuples it is known by (the
// request as sent; what the pod saw, when the request says), grown by the
// addresses a matching packet had at each hook, both directions.
export function tracesOfConnection(
  traces: readonly PacketTrace[],
  proto: DropPacket['proto'],
  seeds: readonly Tuple[],
): PacketTrace[] {
  const known = new Set<string>();
  const learn = (t: Tuple) => {
    known.add(tupleKey(proto, t));
    known.add(tupleKey(proto, inverse(t)));
  };
  for (const s of seeds) learn(s);
  const mine = new Set<PacketTrace>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const trace of traces) {
      if (mine.has(trace) || trace.packet.proto !== proto) continue;
      const tuples = [trace.packet, ...trace.steps.flatMap((s) => (s.kind === 'hook' ? [s.packet] : []))];
      if (!tuples.some((t) => known.has(tupleKey(proto, t)))) continue;
      mine.add(trace);
      for (const t of tuples) learn(t);
      grew = true;
    }
  }
  return traces.filter((t) => mine.has(t));
}
