import { describe, expect, test } from 'vitest';
import { parseBpftraceLine, statusNames, type BpftraceRecord, type ParseContext } from '../../src/tracer/parse.js';
import { LossCounter } from '../../src/tracer/loss.js';
import type { DropEvent, NatEvent } from '../../src/events/types.js';
import { fixtureText } from '../helpers.js';

// Names for the namespaces of that micro-VM run are not in the raw output: hosts read "ns<inode>".
const ctx: ParseContext = { hostOf: (n) => `ns${n}`, dropReason: (c) => `REASON_${c}` };
const lines = fixtureText('bpftrace', 'lab-all-probes.jsonl').split('\n');
const records = lines.map((l) => parseBpftraceLine(l, ctx));
const events = records.flatMap((r) => (r.type === 'event' ? [r.event] : []));

describe('bpftrace output parser, on output captured in the micro-VM', () => {
  test('every line of a real run is understood: no garbage', () => {
    const garbage = records.filter((r) => r.type === 'garbage');
    expect(garbage).toEqual([]);
    const types = new Set(records.map((r) => r.type));
    expect(types).toEqual(new Set(['attached', 'message', 'event', 'sequence', 'blank']));
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
    expect(drop.packet).toMatchObject({ proto: 'tcp', src: '10.244.2.2', sport: 3306, dst: '192.168.10.10', flags: ['SYN', 'ACK'] });
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
    for (const r of records) if (r.type === 'event') loss.observe(r.probe, r.stream, r.cpu, r.seq);
    const finals = records.filter((r): r is Extract<BpftraceRecord, { type: 'sequence' }> => r.type === 'sequence');
    for (const f of finals.slice(-5)) loss.settle(f.probe, f.stream, f.perCpu);
    expect(loss.lost()).toBe(0);
    expect(loss.received()).toBe(events.length);
  });

  test('the fast path and full JSON parsing agree', () => {
    const line = lines.find((l) => l.includes('"nat '))!;
    const respaced = JSON.stringify(JSON.parse(line)); // no spaces: takes the JSON.parse path
    expect(parseBpftraceLine(respaced, ctx)).toEqual(parseBpftraceLine(line, ctx));
  });

  test('bad lines are garbage with a reason, never a crash', () => {
    expect(parseBpftraceLine('Segmentation fault', ctx)).toMatchObject({ type: 'garbage', reason: 'not JSON' });
    expect(parseBpftraceLine('{"type": "printf", "data": "nat 1 2 3\\n"}', ctx)).toMatchObject({ type: 'garbage', reason: 'nat line has 3 fields, expected 16' });
    expect(parseBpftraceLine('{"type": "printf", "data": "drop 0 1 x 4 7 f 6 1 2 3 4 18 3\\n"}', ctx)).toMatchObject({ type: 'garbage' });
    expect(parseBpftraceLine('{"type": "printf", "data": "hello\\n"}', ctx)).toEqual({ type: 'message', text: 'hello' });
    expect(parseBpftraceLine('{"type": "lost_events", "data": {"events": 12}}', ctx)).toEqual({ type: 'lost', count: 12 });
    expect(parseBpftraceLine('42', ctx)).toMatchObject({ type: 'garbage' });
  });

  test('status bits are named by the kernel ABI', () => {
    expect(statusNames(416)).toEqual(['DST_NAT', 'SRC_NAT_DONE', 'DST_NAT_DONE']);
    expect(statusNames(8)).toEqual(['CONFIRMED']);
    expect(statusNames(0b110)).toEqual(['SEEN_REPLY', 'ASSURED']);
  });
});
