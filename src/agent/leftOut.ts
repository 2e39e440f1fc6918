// What the agent leaves out of the stream on purpose (the lab's own load
// generator's connections), counted so that it never vanishes: per host,
// kind and `by`, handed out as `counted` events (cause "load") whenever the
// agent drains it. Pure: events in, counts out.

import { base, type CountedEvent, type KernelEvent } from '../events/types.js';

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
