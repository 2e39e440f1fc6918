// Loss accounting from the probes' own sequence numbers. bpftrace's
// lost_events count is reported too, but it is bpftrace's view (it also
// counts its own lost print() actions); this one counts probe lines.
// Each probe program numbers its lines per CPU: a gap between two lines
// from one CPU is the number of lines lost in between (a CPU's buffer keeps
// order), and lines lost after the last arrival show when the final
// counters are compared at exit. A line that arrives late (after a later
// one) is taken back out of the loss. What this cannot see: a program the
// kernel skipped (the same program re-entered on one CPU is not run): that
// line was never numbered.

interface Stream {
  last: number;
  // gaps counted as lost, [from, to] inclusive, newest last (a late line may still fill one)
  gaps: [number, number][];
}

const MAX_GAPS = 64;

export class LossCounter {
  private readonly streams = new Map<string, Stream>();
  private readonly lostByProbe = new Map<string, number>();
  private readonly receivedByProbe = new Map<string, number>();

  private stream(probe: string, name: string, cpu: number): Stream {
    const key = `${probe}/${name}/${cpu}`;
    let s = this.streams.get(key);
    if (!s) {
      s = { last: 0, gaps: [] };
      this.streams.set(key, s);
    }
    return s;
  }

  private addLost(probe: string, n: number): void {
    this.lostByProbe.set(probe, (this.lostByProbe.get(probe) ?? 0) + n);
  }

  // Returns how many lines of this stream went missing just before this one
  // (negative when a line counted missing arrives late after all).
  observe(probe: string, name: string, cpu: number, seq: number): number {
    this.receivedByProbe.set(probe, (this.receivedByProbe.get(probe) ?? 0) + 1);
    const s = this.stream(probe, name, cpu);
    if (seq <= s.last) {
      const i = s.gaps.findIndex(([from, to]) => seq >= from && seq <= to);
      if (i < 0) return 0; // a line seen twice: neither lost nor new
      const [from, to] = s.gaps[i]!;
      const pieces: [number, number][] = [];
      if (from <= seq - 1) pieces.push([from, seq - 1]);
      if (seq + 1 <= to) pieces.push([seq + 1, to]);
      s.gaps.splice(i, 1, ...pieces);
      this.addLost(probe, -1);
      return -1;
    }
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
  // returns the lines lost after the last one received.
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
