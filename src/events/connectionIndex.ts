// Connection → flow id, the flow tracker's hottest lookup (two per event).
// A connection is a protocol and two endpoints in either order, so a tuple
// and its inverse find the same entry. IPv4 connections live in an
// open-addressing table of typed arrays: no key string is built, hashed or
// kept per event, and the collector has nothing to trace. Anything else
// (an IPv6 replay) falls back to a Map keyed by text.
//
// Entries are never deleted one by one: the tracker drops flows wholesale
// and an entry whose flow is gone simply reads as absent (`isLive`). When
// the table fills, a sweep rebuilds it with the live entries only, so its
// size follows the live flows' tuples, not the history.

import { ipv4Number } from './tuple.js';
import type { Proto, Tuple } from './types.js';

const EMPTY = 0;
const MIN_CAPACITY = 1024;

export class ConnectionIndex {
  // per slot: lower address, higher address, their ports (lower endpoint's
  // in the high half), protocol code; and the flow id (EMPTY: a free slot)
  private words: Int32Array;
  private ids: Float64Array;
  private mask: number;
  private used = 0;
  private readonly textKeys = new Map<string, number>();
  // the text map is swept when it outgrows this (doubled when it holds that many live keys)
  private textLimit: number;
  // the key of the last `slot` call, for `set` to store
  private w0 = 0;
  private w1 = 0;
  private w2 = 0;
  private w3 = 0;

  constructor(
    private readonly isLive: (id: number) => boolean,
    capacity = MIN_CAPACITY,
  ) {
    const size = powerOfTwoAtLeast(Math.max(capacity, MIN_CAPACITY));
    this.words = new Int32Array(size * 4);
    this.ids = new Float64Array(size);
    this.mask = size - 1;
    this.textLimit = size;
  }

  // The live flow id for this connection, or 0.
  get(proto: Proto, t: Tuple): number {
    const slot = this.slot(proto, t);
    if (slot === -1) return this.liveOrZero(this.textKeys.get(textKey(proto, t)));
    return this.liveOrZero(this.ids[slot]);
  }

  // Points the connection at flow `id`; returns the live flow it pointed at before, or 0
  // (the tracker's one lookup tells it that a tuple it joins belonged to another flow).
  set(proto: Proto, t: Tuple, id: number): number {
    const slot = this.slot(proto, t);
    if (slot === -1) {
      const key = textKey(proto, t);
      const held = this.textKeys.get(key);
      const before = held === id ? id : this.liveOrZero(held);
      this.textKeys.set(key, id);
      if (this.textKeys.size > this.textLimit) this.sweep();
      return before;
    }
    const held = this.ids[slot]!;
    // most calls find the slot empty or already this flow's: no liveness lookup then
    const before = held === id ? id : this.liveOrZero(held);
    if (held === EMPTY) {
      const at = slot * 4;
      this.words[at] = this.w0;
      this.words[at + 1] = this.w1;
      this.words[at + 2] = this.w2;
      this.words[at + 3] = this.w3;
      this.used++;
    }
    this.ids[slot] = id;
    // linear probing stays short below half full
    if (this.used * 2 > this.ids.length) this.sweep();
    return before;
  }

  // Entries held, live or not yet swept: what the index costs.
  get size(): number {
    return this.used + this.textKeys.size;
  }

  get capacity(): number {
    return this.ids.length;
  }

  private liveOrZero(id: number | undefined): number {
    return id !== undefined && id !== EMPTY && this.isLive(id) ? id : 0;
  }

  // The slot holding this connection, or the free slot where it would go;
  // -1 when the connection has no packed key (not IPv4, or an unknown protocol).
  private slot(proto: Proto, t: Tuple): number {
    const s = ipv4Number(t.src);
    const d = ipv4Number(t.dst);
    const p = protoCode(proto);
    if (s === null || d === null || p === 0) return -1;
    // ports share one word: anything outside 16 bits (a malformed replay) takes the text path
    if ((t.sport & 0xffff) !== t.sport || (t.dport & 0xffff) !== t.dport) return -1;
    // the lower endpoint first: a tuple and its inverse are one key
    if (s < d || (s === d && t.sport <= t.dport)) {
      this.w0 = s | 0;
      this.w1 = d | 0;
      this.w2 = (t.sport << 16) | t.dport;
    } else {
      this.w0 = d | 0;
      this.w1 = s | 0;
      this.w2 = (t.dport << 16) | t.sport;
    }
    this.w3 = p;
    return this.probe(this.words, this.ids, this.mask);
  }

  private probe(words: Int32Array, ids: Float64Array, mask: number): number {
    let i = hash(this.w0, this.w1, this.w2, this.w3) & mask;
    for (;;) {
      if (ids[i] === EMPTY) return i;
      const at = i * 4;
      if (words[at] === this.w0 && words[at + 1] === this.w1 && words[at + 2] === this.w2 && words[at + 3] === this.w3)
        return i;
      i = (i + 1) & mask;
    }
  }

  // Rebuilds the table with the live entries; grows it when they alone fill a quarter.
  private sweep(): void {
    const oldWords = this.words;
    const oldIds = this.ids;
    let live = 0;
    for (let i = 0; i < oldIds.length; i++) if (oldIds[i] !== EMPTY && this.isLive(oldIds[i]!)) live++;
    const size = live * 4 > oldIds.length ? oldIds.length * 2 : oldIds.length;
    const words = new Int32Array(size * 4);
    const ids = new Float64Array(size);
    const mask = size - 1;
    for (let i = 0; i < oldIds.length; i++) {
      const id = oldIds[i]!;
      if (id === EMPTY || !this.isLive(id)) continue;
      const from = i * 4;
      this.w0 = oldWords[from]!;
      this.w1 = oldWords[from + 1]!;
      this.w2 = oldWords[from + 2]!;
      this.w3 = oldWords[from + 3]!;
      const slot = this.probe(words, ids, mask);
      words.set(oldWords.subarray(from, from + 4), slot * 4);
      ids[slot] = id;
    }
    this.words = words;
    this.ids = ids;
    this.mask = mask;
    this.used = live;
    for (const [key, id] of this.textKeys) if (!this.isLive(id)) this.textKeys.delete(key);
    if (this.textKeys.size * 2 > this.textLimit) this.textLimit *= 2;
  }
}

// A 32-bit mix of the four key words (multiply-xorshift, as in murmur3's finaliser).
function hash(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ c, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 16) ^ d, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function textKey(proto: Proto, t: Tuple): string {
  const x = `${t.src}:${t.sport}`;
  const y = `${t.dst}:${t.dport}`;
  return x < y ? `${proto} ${x} ${y}` : `${proto} ${y} ${x}`;
}

const protoCodes = new Map<string, number>();

// A small number per protocol name; 0 (no packed key) past 255 protocols.
function protoCode(proto: Proto): number {
  let code = protoCodes.get(proto);
  if (code === undefined) {
    if (protoCodes.size >= 255) return 0;
    code = protoCodes.size + 1;
    protoCodes.set(proto, code);
  }
  return code;
}

function powerOfTwoAtLeast(n: number): number {
  let size = 1;
  while (size < n) size *= 2;
  return size;
}
