import { describe, expect, test } from 'vitest';
import { FlowTracker } from '../../src/events/flows.js';
import { describeFlow } from '../../src/events/story.js';
import type { RequestEvent } from '../../src/events/types.js';
import { recordedEvents } from '../helpers.js';

const events = recordedEvents();
const lab = events.find((e) => e.kind === 'status' && e.lab);
if (lab?.kind !== 'status' || !lab.lab) throw new Error('the recording has no lab status');
const labStatus = lab.lab;
const tracker = new FlowTracker();
for (const e of events) tracker.add(e);
const storyOf = (pred: (r: RequestEvent) => boolean) => {
  const req = events.find((e): e is RequestEvent => e.kind === 'request' && pred(e))!;
  return describeFlow(tracker.flows().find((f) => f.requests.includes(req))!, labStatus);
};

describe('a flow told hop by hop', () => {
  test('the broken mysql request dies at the vpn after bypassing node1', () => {
    const s = storyOf((r) => r.target === 'mysql' && r.outcome === 'timeout');
    expect(s.path).toBe(
      'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP',
    );
    expect(s.verdict).toBe('dropped');
    expect(s.service).toBe('default/mysql');
    expect(s.snat).toBeNull();
  });

  test('with masqueradeAll the reply goes back through node1 and reaches the office', () => {
    const s = storyOf(
      (r) => r.target === 'mysql' && r.outcome === 'answered' && r.peer?.startsWith('10.0.1.11:') === true,
    );
    expect(s.path).toBe(
      'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306 + SNAT ⇒ 10.0.1.11] → node2 → mysql → node2 → node1 → vpn → office ✓',
    );
    expect(s.verdict).toBe('answered');
  });

  test('nginx works without any fix: its pod is on node1', () => {
    const s = storyOf((r) => r.target === 'nginx' && r.peer === `${r.src}:${r.sport}`);
    expect(s.path).toBe('office → vpn → node1 [DNAT 10.96.48.29:80 ⇒ 10.244.1.2:80] → nginx → node1 → vpn → office ✓');
  });

  test('a pod reached directly needs no NAT at all', () => {
    const s = storyOf((r) => r.target === 'pod/mysql');
    expect(s.dnat).toBeNull();
    expect(s.path).toBe('office → vpn → node2 → mysql → node2 → vpn → office ✓');
  });
});

// Nodes of a real cluster stamp events with their own clocks, moved onto
// natscope's through wall time: a node whose wall clock is a second off puts
// its hops a second off. The recording's hosts share one kernel, so the same
// events with one host's times moved stand for such a cluster.
describe('hops in the order the addresses say, where the nodes’ clocks disagree', () => {
  const shifted = (by: Record<string, number>) => {
    // in the order a merged stream delivers them: by (aligned) time
    const moved = events
      .map((e) => ('host' in e && by[e.host] !== undefined ? { ...e, t: e.t + by[e.host]! } : e))
      .sort((x, y) => x.t - y.t);
    const t = new FlowTracker();
    for (const e of moved) t.add(e);
    return (pred: (r: RequestEvent) => boolean) => {
      const req = moved.find((e): e is RequestEvent => e.kind === 'request' && pred(e))!;
      return describeFlow(t.flows().find((f) => f.requests.includes(req))!, labStatus);
    };
  };

  test("the pod's node a second behind still comes after the node that DNATed to it", () => {
    const story = shifted({ node2: -1e9 })((r) => r.target === 'mysql' && r.outcome === 'timeout');
    expect(story.path).toBe(
      'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP',
    );
  });

  test('the vpn a second ahead still comes before the node it forwards to, on the way out and back', () => {
    const story = shifted({ vpn: 1e9, node2: -1e9 })(
      (r) => r.target === 'mysql' && r.outcome === 'answered' && r.peer?.startsWith('10.0.1.11:') === true,
    );
    expect(story.path).toBe(
      'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306 + SNAT ⇒ 10.0.1.11] → node2 → mysql → node2 → node1 → vpn → office ✓',
    );
  });
});
