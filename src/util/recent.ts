// A bounded set of recently added keys. Two generations: when the current
// one fills, it becomes the previous one and the old previous is dropped
// whole. Every operation is O(1); trimming a single Map from its oldest end
// is not (V8 leaves deleted entries at the front that every later
// `keys().next()` walks past until the table is rebuilt).
export class RecentKeys<K> {
  private current = new Set<K>();
  private previous = new Set<K>();

  // holds at least `capacity / 2` and at most `capacity` of the latest keys
  constructor(private readonly capacity: number) {
    if (!(capacity >= 2)) throw new RangeError(`RecentKeys capacity must be at least 2, got ${capacity}`);
  }

  add(key: K): void {
    if (this.current.has(key)) return;
    this.current.add(key);
    if (this.current.size >= this.capacity / 2) {
      this.previous = this.current;
      this.current = new Set();
    }
  }

  has(key: K): boolean {
    return this.current.has(key) || this.previous.has(key);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }
}
