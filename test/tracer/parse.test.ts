import { describe, expect, test } from 'vitest';
import {
  hexOf,
  parseBpftraceLine,
  statusNames,
  type BpftraceRecord,
  type ParseContext,
} from '../../src/tracer/parse.js';
import { LossCounter } from '../../src/tracer/loss.js';
import type { DropEvent, NatEvent } from '../../src/events/types.js';
import { fixtureText } from '../helpers.js';

// Names for the namespaces of that micro-VM run are not in the raw output: hosts read "ns<inode>".
const ctx: ParseContext = { hostOf: (n) => `ns${n}`, dropReason: (c) => `REASON_${c}` };
const lines = fixtureText('bpftrace', 'lab-all-probes.jsonl').split('\n');
const records = lines.map((l) => parseBpftraceLine(l, ctx));
const probeEvents = records.flatMap((r) => (r.type === 'batch' ? r.events : []));
const events = probeEvents.map((e) => e.event);
// why the parser refuses a line (or what it took it for, if it did not)
function garbageReason(line: string): string {
  const r = parseBpftraceLine(line, ctx);
  return r.type === 'garbage' ? r.reason : `taken as ${r.type}`;
}
// a map print as bpftrace writes one
const map = (name: string, entries: string) => `{"type": "map", "data": {"${name}": {${entries}}}}`;

describe('bpftrace output parser, on output captured in the micro-VM', () => {
  test('every line of a real run is understood: no garbage', () => {
    const garbage = records.filter((r) => r.type === 'garbage');
    expect(garbage).toEqual([]);
    const types = new Set(records.map((r) => r.type));
    // other: the flush's own state (@batch) in the exit dump; counted: the load past the detail budget
    expect(types).toEqual(new Set(['attached', 'message', 'flush', 'batch', 'counted', 'sequence', 'blank', 'other']));
  });

  test('all four probe families produced events', () => {
    const kinds = new Set(events.map((e) => e.kind));
    expect(kinds).toEqual(new Set(['nat', 'ct-new', 'drop', 'rewrite']));
  });

  test('the mysql DNAT reads as client → ClusterIP:3306 rewritten to the pod', () => {
    const dnat = events.find((e): e is NatEvent => e.kind === 'nat' && e.manip === 'DNAT' && e.orig.dport === 3306)!;
    expect(dnat.orig.src).toBe('192.168.10.10');
    expect(dnat.orig.dst).toBe('10.96.207.61');
    expect(dnat.to).toEqual({ ip: '10.244.2.2', port: 3306 });
    expect(dnat.reply).toEqual({ src: '10.244.2.2', sport: 3306, dst: '192.168.10.10', dport: dnat.orig.sport });
    expect(dnat.accepted).toBe(true);
    expect(dnat.ct).toMatch(/^ffff[0-9a-f]{12}$/);
  });

  test('after masqueradeAll the SNAT binding rewrites the source to node1', () => {
    const snat = events.find((e): e is NatEvent => e.kind === 'nat' && e.manip === 'SNAT')!;
    expect(snat.to.ip).toBe('10.0.1.11');
    expect(snat.reply.dst).toBe('10.0.1.11');
  });

  test("the vpn's drop is the pod's SYN-ACK to the client, freed by nft_do_chain", () => {
    const drop = events.find((e): e is DropEvent => e.kind === 'drop' && e.location === 'nft_do_chain')!;
    expect(drop.packet).toMatchObject({
      proto: 'tcp',
      src: '10.244.2.2',
      sport: 3306,
      dst: '192.168.10.10',
      flags: ['SYN', 'ACK'],
    });
    expect(drop.reason).toBe(`REASON_${drop.reasonCode}`);
    expect(drop.ifindex).toBeGreaterThan(0);
  });

  test("node1's conntrack entry carries DST_NAT and no SRC_NAT before the fix", () => {
    const dnat = events.find((e): e is NatEvent => e.kind === 'nat' && e.manip === 'DNAT' && e.orig.dport === 3306)!;
    const entry = events.find((e) => e.kind === 'ct-new' && e.ct === dnat.ct);
    // SRC_NAT_DONE: the SNAT hook ran; without SRC_NAT it changed nothing
    expect(entry && 'status' in entry ? entry.status : []).toEqual(['DST_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE']);
  });

  test('per-CPU sequence numbers show no loss in this run, and the final counters agree', () => {
    const loss = new LossCounter();
    for (const r of probeEvents) loss.observe(r.probe, r.stream, r.cpu, r.seq);
    const finals = records.filter((r): r is Extract<BpftraceRecord, { type: 'sequence' }> => r.type === 'sequence');
    for (const f of finals.slice(-5)) loss.settle(f.probe, f.stream, f.perCpu);
    expect(loss.lost()).toBe(0);
    expect(loss.received()).toBe(events.length);
  });

  test('conntrack addresses keep every digit (they are above 2^53, where JSON numbers round)', () => {
    // a nat event whose address a double cannot hold (some slab addresses happen to fit)
    const first = (l: string) => /"\d+,\d+": \[\d+,\d+,(\d+),/.exec(l)?.[1] ?? '0';
    const line = lines.find(
      (l) => l.includes('"@nat_') && Number(first(l)).toString(16) !== BigInt(first(l)).toString(16),
    )!;
    const digits = first(line);
    const record = parseBpftraceLine(line, ctx);
    const nat = record.type === 'batch' ? record.events[0]!.event : null;
    expect(nat && 'ct' in nat ? nat.ct : '').toBe(BigInt(digits).toString(16));
    expect(Number(digits).toString(16)).not.toBe(BigInt(digits).toString(16));
  });

  test('64-bit addresses convert to hex exactly', () => {
    for (const n of [
      0n,
      1n,
      999_999_999n,
      1_000_000_000n,
      0xffffffffn,
      0x100000000n,
      // the last value below all sixteen hex digits, and the first with them
      0x0fffffffffffffffn,
      0x1000000000000000n,
      0xffff88800b5e8700n,
      0xffffffffffffffffn,
      18446612682626589440n,
    ]) {
      expect(hexOf(n.toString())).toBe(n.toString(16));
    }
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < 1000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
      expect(hexOf(`[${x}]`, 1, x.toString().length + 1)).toBe(x.toString(16));
      // every length of value, not only kernel addresses' sixteen hex digits
      const shorter = x >> BigInt(i % 64);
      expect(hexOf(shorter.toString())).toBe(shorter.toString(16));
    }
  });

  test('the in-place scanner and full JSON parsing agree on every line of the run', () => {
    const batches = lines.filter((l) => /^\{"type": "map", "data": \{"@(nat|ctn|ctd|drop|rw)_[ab]"/.test(l));
    expect(batches.length).toBeGreaterThan(5);
    for (const line of batches) {
      // without bpftrace's spacing the scanner declines and JSON.parse reads the line
      const compact = line.replace(/, /g, ',').replace(/": /g, '":');
      expect(parseBpftraceLine(compact, ctx)).toEqual(parseBpftraceLine(line, ctx));
    }
    // an escaped symbol also takes the full way
    const drop = batches.find((l) => l.includes('"@drop_'))!;
    const escaped = parseBpftraceLine(drop.replace('"nft_do_chain"', '"nft\\u005fdo_chain"'), ctx);
    expect(escaped).toEqual(parseBpftraceLine(drop, ctx));
  });

  test('events past the detail budget arrive as counts per namespace and kind, NAT split by manip', () => {
    const counts = records.flatMap((r) => (r.type === 'counted' ? r.events : []));
    // drops have a budget of their own: none of the few in this run was only counted
    expect(new Set(counts.map((e) => e.of))).toEqual(new Set(['nat', 'ct-new', 'rewrite']));
    const line = lines.find((l) =>
      l.startsWith('{"type": "map", "data": {"@nat_over_b": {"4026532349,0": 11, "4026532349,1": 11}'),
    )!;
    const record = parseBpftraceLine(line, ctx);
    expect(
      record.type === 'counted'
        ? record.events.map(({ host, netns, of, by, count }) => ({ host, netns, of, by, count }))
        : record,
    ).toEqual([
      { host: 'ns4026532349', netns: 4026532349, of: 'nat', by: 'SNAT', count: 11 },
      { host: 'ns4026532349', netns: 4026532349, of: 'nat', by: 'DNAT', count: 11 },
    ]);
    // conntrack counts are per namespace only; a drop's are split by reason, named from the kernel
    const ct = parseBpftraceLine(lines.find((l) => l.includes('"@ctn_over_'))!, ctx);
    expect(ct.type === 'counted' && ct.events.every((e) => e.of === 'ct-new' && e.by === null && e.count > 0)).toBe(
      true,
    );
    const drop = parseBpftraceLine('{"type": "map", "data": {"@drop_over_a": {"4026532176,12": 35}}}', ctx);
    expect(drop).toMatchObject({
      type: 'counted',
      events: [{ of: 'drop', by: 'REASON_12', count: 35, netns: 4026532176 }],
    });
  });

  test('bad lines are garbage with a reason, never a crash', () => {
    expect(parseBpftraceLine('Segmentation fault', ctx)).toMatchObject({ type: 'garbage', reason: 'not JSON' });
    expect(garbageReason(map('@nat_a', '"0,1": [1,2,3]'))).toBe('nat event 0,1 has 3 values, expected 14');
    expect(garbageReason(map('@drop_b', '"0,1": [1,2,7,8,6,1,2,3,4,18,3]'))).toBe(
      'drop event 0,1: location is not a symbol',
    );
    expect(garbageReason(map('@rw_a', '"0,1": [1,2,1,0,6,1,2,3,"x",1,2,3,4]'))).toBe(
      'rewrite event 0,1: bdport is not a kernel integer',
    );
    expect(garbageReason(map('@ctn_a', '"7": [1,2,3,4,6,1,2,3,4,1,2,3,4]'))).toBe(
      'ct-new event key "7" is not CPU,SEQ',
    );
    expect(garbageReason(map('@ctn_a', '",7": [1,2,3,4,6,1,2,3,4,1,2,3,4]'))).toBe(
      'ct-new event key ",7" is not CPU,SEQ',
    );
    expect(parseBpftraceLine(map('@nat_b', ''), ctx)).toEqual({ type: 'batch', events: [] });
    expect(garbageReason(map('@nat_over_a', '"4026532349": 3'))).toBe('nat count key "4026532349" is not NETNS,MANIP');
    expect(garbageReason(map('@ctd_over_b', '"1,2": 3'))).toBe('ct-destroy count key "1,2" is not NETNS');
    expect(garbageReason(map('@drop_over_a', '"1,7": "x"'))).toBe('drop count for "1,7" is not a count');
    expect(parseBpftraceLine('{"type": "printf", "data": "hello\\n"}', ctx)).toEqual({
      type: 'message',
      text: 'hello',
    });
    // a recording made before the marker carried its tick's time
    expect(parseBpftraceLine('{"type": "printf", "data": "natscope-flush\\n"}', ctx)).toEqual({
      type: 'flush',
      at: null,
      handedAt: null,
    });
    // printf("natscope-flush %llu\\n", nsecs), before it carried the hand-over, as bpftrace 0.23.2
    // printed it (Debian 13's, in a BEGIN probe); 0.17's is in test/fixtures/bpftrace/drop-flush-times.jsonl
    expect(parseBpftraceLine('{"type": "printf", "data": "natscope-flush 65376274629837\\n"}', ctx)).toEqual({
      type: 'flush',
      at: 65376274629837,
      handedAt: null,
    });
    // the tick's time and the hand-over's, as bpftrace 0.17.0 printed them (test/fixtures/bpftrace/drop-flush-handover.jsonl)
    expect(parseBpftraceLine('{"type": "printf", "data": "natscope-flush 322247035548 322197016115\\n"}', ctx)).toEqual(
      { type: 'flush', at: 322247035548, handedAt: 322197016115 },
    );
    // and as bpftrace 0.23.2 printed them (Debian 13's, the end-to-end test in the micro-VM)
    expect(parseBpftraceLine('{"type": "printf", "data": "natscope-flush 101147096800 101094129896\\n"}', ctx)).toEqual(
      { type: 'flush', at: 101147096800, handedAt: 101094129896 },
    );
    // a hand-over that cannot be: the flush still ends there, saying only its tick (and why not more)
    expect(
      parseBpftraceLine('{"type": "printf", "data": "natscope-flush 322247035548 123456789012345678901\\n"}', ctx),
    ).toEqual({
      type: 'flush',
      at: 322247035548,
      handedAt: null,
      unusable: 'flush marker hand-over is not a kernel integer',
    });
    // a hand-over is a tick before the print that follows it
    for (const handedAt of [322247035548, 322297035548])
      expect(
        parseBpftraceLine(`{"type": "printf", "data": "natscope-flush 322247035548 ${handedAt}\\n"}`, ctx),
      ).toEqual({
        type: 'flush',
        at: 322247035548,
        handedAt: null,
        unusable: 'flush marker hand-over is not before its tick',
      });
    expect(parseBpftraceLine('{"type": "printf", "data": "natscope-flush 1 2 3\\n"}', ctx)).toEqual({
      type: 'message',
      text: 'natscope-flush 1 2 3',
    });
    expect(
      parseBpftraceLine('{"type": "printf", "data": "natscope-flush 123456789012345678901\\n"}', ctx),
    ).toMatchObject({
      type: 'garbage',
      reason: 'flush marker time is not a kernel integer',
    });
    expect(parseBpftraceLine('{"type": "printf", "data": "natscope-flush soon\\n"}', ctx)).toEqual({
      type: 'message',
      text: 'natscope-flush soon',
    });
    expect(parseBpftraceLine('{"type": "lost_events", "data": {"events": 12}}', ctx)).toEqual({
      type: 'lost',
      count: 12,
    });
    expect(parseBpftraceLine('42', ctx)).toMatchObject({ type: 'garbage' });
  });

  test('numbers past what the kernel can print are garbage, on the fast path and the full one alike', () => {
    // a real event line of the capture, its key changed
    const real = lines.find((l) => l.startsWith('{"type": "map", "data": {"@nat_a": {"'))!;
    const key = /"(\d+),(\d+)": \[/.exec(real)!;
    const withKey = (k: string) => real.replace(key[0], `"${k}": [`);
    expect(parseBpftraceLine(withKey(`${key[1]},${key[2]}`), ctx).type).toBe('batch');
    expect(garbageReason(withKey(`8192,${key[2]}`))).toBe(
      `nat event 8192,${key[2]}: CPU 8192 is past the kernel's limit`,
    );
    expect(garbageReason(withKey('0,9007199254740993'))).toBe(
      'nat event 0,9007199254740993: the sequence number is past 2^53',
    );
    // the same, spaced so the fast path does not take it: the full parse says the same
    expect(garbageReason(withKey('8192,1').replace('{"type": "map"', '{"type":"map"'))).toBe(
      "nat event 8192,1: CPU 8192 is past the kernel's limit",
    );
    // a value no kernel integer is (negative, fractional, past 64 bits), an event's namespace past 32 bits
    const values = (key[0] + real.slice(real.indexOf(key[0]) + key[0].length)).match(/^"\d+,\d+": \[([^\]]*)\]/)![1]!;
    const fields = values.split(',');
    const withValue = (i: number, v: string) => real.replace(values, fields.map((f, j) => (j === i ? v : f)).join(','));
    expect(garbageReason(withValue(1, '-3'))).toBe(`nat event ${key[1]},${key[2]}: netns is not a kernel integer`);
    expect(parseBpftraceLine(withValue(1, '1.5'), ctx)).toMatchObject({ type: 'garbage' });
    expect(garbageReason(withValue(1, '4294967296'))).toBe(
      `nat event ${key[1]},${key[2]}: netns is not a namespace inode`,
    );
    expect(garbageReason(withValue(3, '1'.repeat(21)))).toBe(
      `nat event ${key[1]},${key[2]}: manip is not a kernel integer`,
    );
    expect(garbageReason(map('@nat_over_a', '"4294967296,1": 3'))).toBe(
      'nat count for "4294967296,1": 4294967296 is not a namespace inode',
    );
    expect(garbageReason(map('@nat_over_a', '"4026532349,1": 9007199254740993'))).toBe(
      'nat count for "4026532349,1" is not a count',
    );
  });

  test("bpftrace's own reports and the final sequence counters are checked like events", () => {
    expect(parseBpftraceLine(map('@nat_seq', '"1": 64, "0": 198'), ctx)).toEqual({
      type: 'sequence',
      probe: 'nat',
      stream: 'nat',
      perCpu: new Map([
        [1, 64],
        [0, 198],
      ]),
    });
    expect(garbageReason(map('@nat_seq', '"x": 64'))).toBe('nat sequence key "x" is not a CPU');
    expect(garbageReason(map('@nat_seq', '"9000": 64'))).toBe('nat sequence key "9000" is not a CPU');
    expect(garbageReason(map('@ctn_seq', '"0": "64"'))).toBe('ct-new sequence number for CPU 0 is not a count');
    expect(parseBpftraceLine(map('@ctn_seq', '"0": -1'), ctx)).toMatchObject({ type: 'garbage' });
    expect(garbageReason('{"type": "lost_events", "data": {"events": "12"}}')).toBe('lost_events without a count');
    expect(parseBpftraceLine('{"type": "lost_events", "data": null}', ctx)).toMatchObject({ type: 'garbage' });
    expect(parseBpftraceLine('{"type": "attached_probes", "data": {"probes": 5}}', ctx)).toEqual({
      type: 'attached',
      probes: 5,
    });
    expect(garbageReason('{"type": "attached_probes", "data": {"probes": 1.5}}')).toBe(
      'attached_probes without a count',
    );
  });

  test('status bits are named by the kernel ABI', () => {
    expect(statusNames(416)).toEqual(['DST_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE']);
    expect(statusNames(8)).toEqual(['CONFIRMED']);
    expect(statusNames(0b110)).toEqual(['SEEN_REPLY', 'ASSURED']);
  });
});
