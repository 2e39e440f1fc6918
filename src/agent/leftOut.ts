// What the agent leaves out of the stream on purpose (the lab's own load
// generator's connections), counted so that it never vanishes: which kernel
// events are the load's (LoadEvents), and their counts per host, kind and
// `by`, handed out as `counted` events (cause "load") whenever the agent
// drains them (LeftOut). Pure: events in, verdicts and counts out. Used
// wherever the parser runs: the agent's own tracer, and the host's parser
// of a micro-VM's bpftrace (src/agent/hostTraced.ts).

import { inverse, tupleKey } from '../events/tuple.js';
import { base, type CountedEvent, type KernelEvent } from '../events/types.js';
import { RecentKeys } from '../util/recent.js';

export class LeftOut {
  private readonly pending = new Map<string, CountedEvent>();
  // every event left out so far
  total = 0;

  add(e: KernelEvent): void {
    const by = e.kind === 'nat' || e.kind === 'rewrite' ? e.manip : e.kind === 'drop' ? e.reason : null;
    const key = `${e.kind} ${e.netns} ${by}`;
    const counted = this.pending.get(key);
    if (counted) counted.count++;
    else this.pending.set(key, { ...base('counted', e.host, e.netns, e.t), of: e.kind, by, count: 1, cause: 'load' });
    this.total++;
  }

  // The counts gathered since the last drain, stamped with the last event's time.
  drain(): CountedEvent[] {
    const out = [...this.pending.values()];
    this.pending.clear();
    return out;
  }
}

// Thousands of identical load connections would drown the stream (and a
// recording): their events are recognised by the load generator's source
// addresses, and, past a NAT, by the tuples its connections produced.
// Known limit: the load's tuples after NAT are learnt from its events
// reported whole; past the detail budget most are only counted, so a drop
// that carries only post-SNAT addresses (masqueradeAll on) may pass.
export class LoadEvents {
  private readonly tuples = new RecentKeys<string>(200_000);

  // `sources`: the load generator's addresses (none: no lab, nothing is the load's)
  isLoad(e: KernelEvent, sources: readonly string[]): boolean {
    if (sources.length === 0) return false;
    if (e.kind === 'drop') {
      const p = e.packet;
      return sources.includes(p.src) || sources.includes(p.dst) || this.tuples.has(tupleKey(p.proto, p));
    }
    const orig = e.kind === 'rewrite' ? e.before : e.orig;
    const reply = e.kind === 'rewrite' ? e.after : e.reply;
    if (!sources.includes(orig.src) && !sources.includes(reply.dst)) return false;
    // remember how the load's connections look after NAT (a pod's teardown drops carry those)
    for (const t of [reply, inverse(reply)]) this.tuples.add(tupleKey(e.proto, t));
    return true;
  }
}
