// A fixed-capacity buffer that forgets its oldest items: every list the TUI
// keeps is one of these, so memory stays flat however long a session runs.

export class Ring<T> {
  private readonly items: (T | undefined)[];
  private start = 0;
  private count = 0;
  // items pushed out since the start
  evicted = 0;

  constructor(readonly capacity: number) {
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  // Adds an item; returns the one it pushed out, if any.
  push(item: T): T | undefined {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count++) % this.capacity] = item;
      return undefined;
    }
    const old = this.items[this.start];
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
    this.evicted++;
    return old;
  }

  // i-th oldest item (0 = oldest kept)
  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.items[(this.start + i) % this.capacity];
  }

  last(): T | undefined {
    return this.at(this.count - 1);
  }

  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.at(i)!);
    return out;
  }

  // The newest `n` items (oldest first) for which `keep` holds, scanning
  // from the newest so a screenful costs a screenful, not the whole buffer.
  newest(n: number, keep: (item: T) => boolean = () => true): T[] {
    const out: T[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < n; i--) {
      const item = this.at(i)!;
      if (keep(item)) out.push(item);
    }
    return out.reverse();
  }
}
