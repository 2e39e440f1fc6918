// Loss accounting from the probes' own sequence numbers. bpftrace's
// lost_events count is reported too, but it is bpftrace's view (it counts
// perf records, and a full event buffer drops an update without telling
// it); this one counts events. Each probe program numbers its events per
// CPU: a gap between two events of one CPU is the number lost in between
// (the reader sorts each flush by time, which is sequence order per CPU),
// and events lost after the last arrival show when the final counters are
// compared at exit. An event that arrives late (after a later one) is taken
// back out of the loss; one that arrives twice is reported once. What this
// cannot see: a program the kernel skipped (the same program re-entered on
// one CPU is not run): that event was never numbered.

interface Stream {
  last: number;
  // gaps counted as lost, [from, to] inclusive, newest last (a late event may still fill one)
  gaps: [number, number][];
}

const MAX_GAPS = 64;

// One probe's counts, and its streams' state per stream name, per CPU.
interface Tally {
  received: number;
  lost: number;
  streams: Map<string, Stream[]>;
}

export class LossCounter {
  // looked up for every event, so no key string is built
  private readonly tallies = new Map<string, Tally>();

  private tally(probe: string): Tally {
    let tally = this.tallies.get(probe);
    if (!tally) {
      tally = { received: 0, lost: 0, streams: new Map() };
      this.tallies.set(probe, tally);
    }
    return tally;
  }

  private stream(tally: Tally, name: string, cpu: number): Stream {
    let perCpu = tally.streams.get(name);
    if (!perCpu) {
      perCpu = [];
      tally.streams.set(name, perCpu);
    }
    let s = perCpu[cpu];
    if (!s) {
      s = { last: 0, gaps: [] };
      perCpu[cpu] = s;
    }
    return s;
  }

  // Returns how many events of this stream went missing just before this one
  // (negative when an event counted missing arrives late after all), or null
  // for an event seen before (neither lost nor new; a late event whose gap
  // has left the last MAX_GAPS is taken for one too).
  observe(probe: string, name: string, cpu: number, seq: number): number | null {
    const tally = this.tally(probe);
    const s = this.stream(tally, name, cpu);
    if (seq <= s.last) {
      const i = s.gaps.findIndex(([from, to]) => seq >= from && seq <= to);
      if (i < 0) return null;
      tally.received++;
      const [from, to] = s.gaps[i]!;
      const pieces: [number, number][] = [];
      if (from <= seq - 1) pieces.push([from, seq - 1]);
      if (seq + 1 <= to) pieces.push([seq + 1, to]);
      s.gaps.splice(i, 1, ...pieces);
      tally.lost--;
      return -1;
    }
    tally.received++;
    const gap = seq - s.last - 1;
    if (gap > 0) {
      s.gaps.push([s.last + 1, seq - 1]);
      if (s.gaps.length > MAX_GAPS) s.gaps.shift();
      tally.lost += gap;
    }
    s.last = seq;
    return gap;
  }

  // Compares a stream's final kernel-side counters with what arrived;
  // returns the events lost after the last one received.
  settle(probe: string, name: string, finalPerCpu: Map<number, number>): number {
    const tally = this.tally(probe);
    let tail = 0;
    for (const [cpu, final] of finalPerCpu) {
      const s = this.stream(tally, name, cpu);
      if (final > s.last) {
        tail += final - s.last;
        s.last = final;
      }
    }
    tally.lost += tail;
    return tail;
  }

  lost(probe?: string): number {
    if (probe !== undefined) return this.tallies.get(probe)?.lost ?? 0;
    let sum = 0;
    for (const t of this.tallies.values()) sum += t.lost;
    return sum;
  }

  received(probe?: string): number {
    if (probe !== undefined) return this.tallies.get(probe)?.received ?? 0;
    let sum = 0;
    for (const t of this.tallies.values()) sum += t.received;
    return sum;
  }

  summary(): { probe: string; received: number; lost: number }[] {
    // a probe is listed once it has received or lost an event (lost only
    // falls when a late event is received, so it never hides one that was)
    return [...this.tallies]
      .filter(([, t]) => t.received > 0 || t.lost > 0)
      .map(([probe]) => probe)
      .sort()
      .map((probe) => ({ probe, received: this.received(probe), lost: this.lost(probe) }));
  }
}
