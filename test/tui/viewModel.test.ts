import { describe, expect, it } from 'vitest';
import type { NatPaneRow, NatRow } from '../../tui/viewModel.js';
import { ViewModel, filterTerms, matches } from '../../tui/viewModel.js';
import { incidentEvents, incidentModel } from './fixture.js';
import { capturedCounts } from '../helpers.js';

const natRows = (rows: { type: string }[]) => rows.filter((r): r is NatRow => r.type === 'nat');

describe('ViewModel on the incident recording', () => {
  it('puts every DNAT binding of the recording in the DNAT pane, the ClusterIP named by its Service', () => {
    const model = incidentModel();
    const dnat = natRows(model.dnat.toArray());
    const recorded = incidentEvents().filter((e) => e.kind === 'nat' && e.manip === 'DNAT');
    expect(dnat).toHaveLength(recorded.length);
    const mysql = dnat.find((r) => r.service === 'mysql')!;
    expect(mysql.host).toBe('node1');
    expect(mysql.before.dst).toBe('10.96.207.61');
    expect(mysql.before.dport).toBe(3306);
    // the packet after node1's DNAT goes to the pod on node2
    expect(mysql.after.dst).toBe('10.244.2.2');
    expect(mysql.after.src).toBe('192.168.10.10');
  });

  it('puts the masquerade bindings in the SNAT pane, with node1 as the new source', () => {
    const model = incidentModel();
    const snat = natRows(model.snat.toArray());
    expect(snat.length).toBeGreaterThan(0);
    expect(snat.every((r) => r.manip === 'SNAT')).toBe(true);
    const mysql = snat.filter((r) => r.service === 'mysql');
    expect(mysql.map((r) => r.after.src)).toContain('10.0.1.11');
  });

  it('shows no SNAT before masqueradeAll is switched on', () => {
    const model = incidentModel();
    const rows = model.snat.toArray();
    const firstMarker = rows.findIndex((r) => r.type === 'marker');
    expect(firstMarker).toBe(0);
    expect(rows[0]).toMatchObject({ type: 'marker', text: 'masqueradeAll on' });
  });

  it('draws a marker line in both NAT panes for each kube-proxy change, in order', () => {
    const model = incidentModel();
    const markers = (rows: NatPaneRow[]) => rows.flatMap((r) => (r.type === 'marker' ? [r.text] : []));
    const expected = ['masqueradeAll on', 'masqueradeAll off', 'clusterCIDR 10.244.0.0/16', 'clusterCIDR none'];
    expect(markers(model.dnat.toArray())).toEqual(expected);
    expect(markers(model.snat.toArray())).toEqual(expected);
  });

  it('follows the kube-proxy state the recording ends with', () => {
    const model = incidentModel();
    expect(model.kubeProxy).toEqual({ mode: 'iptables', masqueradeAll: false, clusterCIDR: null });
    expect(model.iptables).toBe('nft');
    expect(model.status?.where).toBe('micro-vm');
  });

  it("lists the vpn's NETFILTER_DROP of the pod's SYN-ACK once, counting its retransmissions", () => {
    const model = incidentModel();
    const drops = model.drops.toArray();
    const vpn = drops.filter((d) => d.host === 'vpn' && d.reason === 'NETFILTER_DROP');
    expect(vpn).toHaveLength(1);
    const row = vpn[0]!;
    const recorded = incidentEvents().filter(
      (e) => e.kind === 'drop' && e.host === 'vpn' && e.reason === 'NETFILTER_DROP',
    );
    expect(row.count).toBe(recorded.length);
    expect(row.packet).toMatchObject({ src: '10.244.2.2', sport: 3306, dst: '192.168.10.10', flags: ['SYN', 'ACK'] });
    expect(row.srcName).toBe('mysql');
    expect(row.dstName).toBe('office');
    expect(row.explanation).toBe('a reply the VPN never saw a request for');
  });

  it('keeps routine socket frees out of the drops pane but counts them', () => {
    const model = incidentModel();
    expect(model.drops.toArray().some((d) => d.reason === 'NOT_SPECIFIED')).toBe(false);
    const routine = incidentEvents().filter(
      (e) =>
        e.kind === 'drop' && (e.reason === 'NOT_SPECIFIED' || (e.packet.proto === 'icmp' && e.reason === 'NO_SOCKET')),
    );
    expect(model.routineDrops).toBe(routine.length);
  });

  it("tells the broken mysql request's flow as a path that ends in the vpn's drop", () => {
    const model = incidentModel();
    const flows = model.flowList([]).map((id) => model.flow(id)!);
    const broken = flows.find((f) => f.requests.some((r) => r.target === 'mysql' && r.outcome === 'timeout'))!;
    const story = model.story(broken);
    expect(story.path).toContain('node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306]');
    expect(story.path).toMatch(/vpn ✗ NETFILTER_DROP$/);
    expect(story.verdict).toBe('dropped');
  });

  it('tells a fixed mysql request as DNAT + SNAT on node1 and an answer back at the office', () => {
    const model = incidentModel();
    const flows = model.flowList([]).map((id) => model.flow(id)!);
    const fixed = flows.find((f) => f.requests.some((r) => r.target === 'mysql' && r.outcome === 'answered'))!;
    const story = model.story(fixed);
    expect(story.path).toContain('SNAT ⇒ 10.0.1.11');
    expect(story.path).toMatch(/office ✓$/);
    expect(fixed.requests[0]!.peer).toMatch(/^10\.0\.1\.11:/);
  });

  it('lists flows in the order they started', () => {
    const model = incidentModel();
    const ids = model.flowList([]);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(ids.length).toBe(model.tracker.size);
  });

  it('filters flows by Service, host or IP', () => {
    const model = incidentModel();
    const all = model.flowList([]);
    const mysql = model.flowList(filterTerms('mysql'));
    expect(mysql.length).toBeGreaterThan(0);
    expect(mysql.length).toBeLessThan(all.length);
    for (const id of mysql) {
      // through the mysql pod, or to its ClusterIP (the ping that node1 cannot route)
      const story = model.story(model.flow(id)!);
      expect(story.path.includes('mysql') || story.service === 'default/mysql').toBe(true);
    }
    expect(model.flowList(filterTerms('10.0.1.11')).length).toBeGreaterThan(0);
    expect(model.flowList(filterTerms('no-such-host'))).toEqual([]);
  });

  it('matches a filter only when every word is found', () => {
    expect(matches('node1 dnat mysql 10.96.207.61:3306', filterTerms('mysql node1'))).toBe(true);
    expect(matches('node1 dnat mysql 10.96.207.61:3306', filterTerms('mysql node2'))).toBe(false);
  });

  it('counts lost events and events per second over the last second', () => {
    const model = new ViewModel({ kind: 'live', placement: 'auto' });
    model.ingest({ v: 1, kind: 'lost', t: 1, host: '?', netns: 0, probe: 'nat', count: 7, source: 'sequence' }, 1000);
    model.ingest({ v: 1, kind: 'lost', t: 2, host: '?', netns: 0, probe: 'nat', count: 3, source: 'bpftrace' }, 1050);
    expect(model.lost).toBe(10);
    expect(model.eventsPerSecond(1100)).toBe(2);
    expect(model.eventsPerSecond(2500)).toBe(0);
  });

  it('adds up the events the probes counted past the detail budget, apart from lost ones', () => {
    const model = new ViewModel({ kind: 'live', placement: 'auto' });
    const counts = capturedCounts();
    for (const e of counts) model.ingest(e, 1000);
    expect(model.counted).toBe(counts.reduce((n, e) => n + e.count, 0));
    expect(model.counted).toBeGreaterThan(100);
    expect(model.lost).toBe(0);
  });

  it('holds bounded memory: rows, flows and saved events stop at their limits', () => {
    const model = new ViewModel({ kind: 'replay', file: 'x', speed: 0 }, { rows: 10, flows: 5, saved: 20 });
    const events = incidentEvents();
    for (let round = 0; round < 30; round++) {
      for (const e of events) {
        const shifted = JSON.parse(
          JSON.stringify(e)
            .replace(/"sport":(\d+)/g, (_m, p) => `"sport":${(Number(p) + round) % 65536}`)
            .replace(/"dport":(4\d{4})/g, (_m, p) => `"dport":${(Number(p) + round) % 65536}`),
        );
        model.ingest({ ...shifted, t: e.t + round * 1e10 }, round);
      }
    }
    expect(model.dnat.length).toBe(10);
    expect(model.flowList([]).length).toBeLessThanOrEqual(5);
    expect(model.savedEvents().length).toBeLessThanOrEqual(22);
  });

  it('saves the lab status and kube-proxy state that preceded the kept events', () => {
    const model = new ViewModel({ kind: 'replay', file: 'x', speed: 0 }, { saved: 10 });
    for (const e of incidentEvents()) model.ingest(e, 0);
    const saved = model.savedEvents();
    expect(saved[0]!.kind).toBe('status');
    expect(saved.some((e) => e.kind === 'config')).toBe(true);
    expect(saved.length).toBe(12);
  });
});
