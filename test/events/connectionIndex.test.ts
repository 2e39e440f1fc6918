import { describe, expect, test } from 'vitest';
import { ConnectionIndex } from '../../src/events/connectionIndex.js';
import { inverse } from '../../src/events/tuple.js';
import type { Tuple } from '../../src/events/types.js';

const client: Tuple = { src: '192.168.10.10', sport: 46267, dst: '10.96.0.20', dport: 3306 };

// a small deterministic generator, so a failure can be replayed
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

function randomTuple(next: () => number): Tuple {
  const ip = () => `10.${next() & 3}.${next() & 255}.${next() & 255}`;
  return { src: ip(), sport: next() & 0xffff, dst: ip(), dport: next() & 0xffff };
}

describe('ConnectionIndex', () => {
  test('a tuple and its inverse are one connection; protocol and ports tell connections apart', () => {
    const index = new ConnectionIndex(() => true);
    index.set('tcp', client, 7);
    expect(index.get('tcp', client)).toBe(7);
    expect(index.get('tcp', inverse(client))).toBe(7);
    expect(index.get('udp', client)).toBe(0);
    expect(index.get('tcp', { ...client, sport: 46268 })).toBe(0);
    expect(index.get('tcp', { ...client, dport: 3307 })).toBe(0);
    // same two addresses, ports swapped between them: another connection
    expect(index.get('tcp', { ...client, sport: client.dport, dport: client.sport })).toBe(0);
  });

  test('setting a known connection moves it to the new id without a second entry', () => {
    const index = new ConnectionIndex(() => true);
    index.set('tcp', client, 1);
    index.set('tcp', inverse(client), 2);
    expect(index.get('tcp', client)).toBe(2);
    expect(index.size).toBe(1);
  });

  test('agrees with a Map on 50,000 random connections (collisions, growth)', () => {
    const next = prng(42);
    const index = new ConnectionIndex(() => true);
    const model = new Map<string, number>();
    const tuples: Tuple[] = [];
    const key = (t: Tuple) => [`${t.src}:${t.sport}`, `${t.dst}:${t.dport}`].sort().join(' ');
    for (let id = 1; id <= 50_000; id++) {
      const t = randomTuple(next);
      tuples.push(t);
      index.set('tcp', t, id);
      model.set(key(t), id);
    }
    for (const t of tuples) expect(index.get('tcp', inverse(t))).toBe(model.get(key(t)));
    expect(index.size).toBe(model.size);
    // never more than half full: probes stay short
    expect(index.size * 2).toBeLessThanOrEqual(index.capacity);
  });

  test('entries of ids that are no longer live read as absent and are swept: the table follows the live set', () => {
    let oldestLive = 1;
    const index = new ConnectionIndex((id) => id >= oldestLive);
    const next = prng(7);
    for (let id = 1; id <= 200_000; id++) {
      index.set('tcp', randomTuple(next), id);
      oldestLive = Math.max(1, id - 999); // the latest 1000 are live
    }
    // at most four times the live entries, doubled (the table sweeps at half full)
    expect(index.capacity).toBeLessThanOrEqual(8192);
    const again = prng(7);
    const all: Tuple[] = [];
    for (let id = 1; id <= 200_000; id++) all.push(randomTuple(again));
    expect(index.get('tcp', all[0]!)).toBe(0);
    expect(index.get('tcp', all[199_999]!)).toBe(200_000);
    expect(index.get('tcp', all[199_000]!)).toBe(199_001);
  });

  test('addresses that are not IPv4 take the text path, joined with their inverse and swept the same way', () => {
    let oldestLive = 1;
    const index = new ConnectionIndex((id) => id >= oldestLive);
    const v6: Tuple = { src: 'fd00::10', sport: 40000, dst: 'fd00:96::1', dport: 80 };
    index.set('tcp', v6, 1);
    expect(index.get('tcp', inverse(v6))).toBe(1);
    expect(index.get('udp', v6)).toBe(0);
    for (let id = 2; id <= 20_000; id++) {
      index.set('tcp', { ...v6, sport: id }, id);
      oldestLive = id - 99;
    }
    expect(index.get('tcp', v6)).toBe(0);
    expect(index.get('tcp', { ...v6, sport: 20_000 })).toBe(20_000);
    expect(index.size).toBeLessThanOrEqual(2048);
  });

  test('ports outside 16 bits (a malformed replay) do not collide with real ones', () => {
    const index = new ConnectionIndex(() => true);
    index.set('tcp', { ...client, sport: 65536 + 80 }, 1);
    index.set('tcp', { ...client, sport: 80 }, 2);
    expect(index.get('tcp', { ...client, sport: 65536 + 80 })).toBe(1);
    expect(index.get('tcp', { ...client, sport: 80 })).toBe(2);
  });
});

describe('ConnectionIndex.set says which live flow held the connection before', () => {
  test.each([
    ['IPv4 (the packed table)', client],
    ['IPv6 (the text map)', { src: 'fd00::1', sport: 40000, dst: 'fd00::2', dport: 3306 }],
  ])('%s: 0 when new, its own id when set again, another live id, 0 for a flow that is gone', (_, tuple) => {
    const live = new Set([1, 2]);
    const index = new ConnectionIndex((id) => live.has(id));
    expect(index.set('tcp', tuple, 1)).toBe(0);
    expect(index.set('tcp', inverse(tuple), 1)).toBe(1);
    expect(index.set('tcp', tuple, 2)).toBe(1);
    live.delete(2);
    expect(index.set('tcp', tuple, 3)).toBe(0);
    expect(index.get('tcp', tuple)).toBe(0);
    live.add(3);
    expect(index.get('tcp', inverse(tuple))).toBe(3);
  });
});
