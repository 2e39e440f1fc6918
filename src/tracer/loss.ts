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

export class LossCounter {
  // per probe, per stream name, per CPU: looked up for every event, so no key string is built
  private readonly streams = new Map<string, Map<string, Stream[]>>();
  private readonly lostByProbe = new Map<string, number>();
  private readonly receivedByProbe = new Map<string, number>();

  private stream(probe: string, name: string, cpu: number): Stream {
    let byName = this.streams.get(probe);
    if (!byName) {
      byName = new Map();
      this.streams.set(probe, byName);
    }
    let perCpu = byName.get(name);
    if (!perCpu) {
      perCpu = [];
      byName.set(name, perCpu);
    }
    let s = perCpu[cpu];
    if (!s) {
      s = { last: 0, gaps: [] };
      perCpu[cpu] = s;
    }
    return s;
  }

  private addLost(probe: string, n: number): void {
    this.lostByProbe.set(probe, (this.lostByProbe.get(probe) ?? 0) + n);
  }

  // Returns how many events of this stream went missing just before this one
  // (negative when an event counted missing arrives late after all), or null
  // for an event seen before (neither lost nor new; a late event whose gap
  // has left the last MAX_GAPS is taken for one too).
  observe(probe: string, name: string, cpu: number, seq: number): number | null {
    const s = this.stream(probe, name, cpu);
    if (seq <= s.last) {
      const i = s.gaps.findIndex(([from, to]) => seq >= from && seq <= to);
      if (i < 0) return null;
      this.receivedByProbe.set(probe, (this.receivedByProbe.get(probe) ?? 0) + 1);
      const [from, to] = s.gaps[i]!;
      const pieces: [number, number][] = [];
      if (from <= seq - 1) pieces.push([from, seq - 1]);
      if (seq + 1 <= to) pieces.push([seq + 1, to]);
      s.gaps.splice(i, 1, ...pieces);
      this.addLost(probe, -1);
      return -1;
    }
    this.receivedByProbe.set(probe, (this.receivedByProbe.get(probe) ?? 0) + 1);
    const gap = seq - s.last - 1;
    if (gap > 0) {
      s.gaps.push([s.last + 1, seq - 1]);
      if (s.gaps.length > MAX_GAPS) s.gaps.shift();
      this.addLost(probe, gap);
    }
    s.last = seq;
    return gap;
  }

  // Compares a stream's final kernel-side counters with what arrived;
  // returns the events lost after the last one received.
  settle(probe: string, name: string, finalPerCpu: Map<number, number>): number {
    let tail = 0;
    for (const [cpu, final] of finalPerCpu) {
      const s = this.stream(probe, name, cpu);
      if (final > s.last) {
        tail += final - s.last;
        s.last = final;
      }
    }
    if (tail > 0) this.addLost(probe, tail);
    return tail;
  }

  lost(probe?: string): number {
    if (probe !== undefined) return this.lostByProbe.get(probe) ?? 0;
    let sum = 0;
    for (const n of this.lostByProbe.values()) sum += n;
    return sum;
  }

  received(probe?: string): number {
    if (probe !== undefined) return this.receivedByProbe.get(probe) ?? 0;
    let sum = 0;
    for (const n of this.receivedByProbe.values()) sum += n;
    return sum;
  }

  summary(): { probe: string; received: number; lost: number }[] {
    const probes = new Set([...this.receivedByProbe.keys(), ...this.lostByProbe.keys()]);
    return [...probes].sort().map((probe) => ({ probe, received: this.received(probe), lost: this.lost(probe) }));
  }
}
