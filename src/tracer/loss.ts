// Exact loss accounting. bpftrace's own lost_events count under-reports
// (see docs/probes.md), so every probe line carries a per-CPU sequence
// number: a gap between two lines from one CPU is exactly the number of lines
// lost in between (a CPU's perf buffer keeps order). Lines lost after the
// last one that arrived show up when the final counters are compared at exit.

export class LossCounter {
  private readonly last = new Map<string, number>();
  private readonly lostByProbe = new Map<string, number>();
  private readonly receivedByProbe = new Map<string, number>();

  // Returns how many lines of this probe went missing just before this one.
  observe(probe: string, cpu: number, seq: number): number {
    const key = `${probe}/${cpu}`;
    const prev = this.last.get(key) ?? 0;
    this.receivedByProbe.set(probe, (this.receivedByProbe.get(probe) ?? 0) + 1);
    if (seq <= prev) return 0; // a re-read or reordered line: not a loss
    this.last.set(key, seq);
    const gap = seq - prev - 1;
    if (gap > 0) this.lostByProbe.set(probe, (this.lostByProbe.get(probe) ?? 0) + gap);
    return gap;
  }

  // Compares the probe's final kernel-side counters with what arrived;
  // returns the lines lost after the last one received.
  settle(probe: string, finalPerCpu: Map<number, number>): number {
    let tail = 0;
    for (const [cpu, final] of finalPerCpu) {
      const key = `${probe}/${cpu}`;
      const prev = this.last.get(key) ?? 0;
      if (final > prev) {
        tail += final - prev;
        this.last.set(key, final);
      }
    }
    if (tail > 0) this.lostByProbe.set(probe, (this.lostByProbe.get(probe) ?? 0) + tail);
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
