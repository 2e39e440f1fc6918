import { describe, expect, test } from 'vitest';
import { DecodeError, decodeEvent, encodeEvent } from '../../src/events/codec.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { capturedCounts, recordedEvents } from '../helpers.js';

// A real event of `kind` from the incident recording, as a plain JSON value to tamper with.
function recorded(kind: NatscopeEvent['kind'], what?: string): Record<string, unknown> {
  const e = recordedEvents().find((x) => x.kind === kind && (what === undefined || Reflect.get(x, 'what') === what));
  if (!e) throw new Error(`the recording holds no ${kind} event`);
  return JSON.parse(JSON.stringify(e));
}

// `event` with the field at `path` set to `value` (undefined: removed).
function tampered(event: Record<string, unknown>, path: (string | number)[], value: unknown): string {
  const copy = JSON.parse(JSON.stringify(event));
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key];
  const last = path[path.length - 1]!;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return JSON.stringify(copy);
}

describe('event codec', () => {
  test('every event of a real recording survives encode → decode unchanged', () => {
    const events = recordedEvents();
    expect(events.length).toBeGreaterThan(20);
    for (const e of events) expect(decodeEvent(encodeEvent(e), 1)).toEqual(e);
  });

  test('counts of events past the detail budget survive encode → decode; one without its count is refused', () => {
    const counts = capturedCounts();
    expect(counts.length).toBeGreaterThan(10);
    for (const e of counts) expect(decodeEvent(encodeEvent(e), 1)).toEqual(e);
    const { count: _count, ...without } = counts[0]!;
    expect(() => decodeEvent(JSON.stringify(without), 3)).toThrow(/^line 3: counted event: count is missing$/);
  });

  test('a recording holds the kinds the frontends rely on', () => {
    const kinds = new Set(recordedEvents().map((e) => e.kind));
    for (const k of ['status', 'config', 'nat', 'ct-new', 'drop', 'request', 'observation']) expect(kinds).toContain(k);
  });

  test("events of a machine up more than 104 days (CLOCK_MONOTONIC past 2^53 ns) decode: a cluster node's are", () => {
    // a real recording's events, their clock moved on by 120 days, as a long-running node's bpftrace prints it
    const days120 = 120 * 86_400 * 1e9;
    expect(days120).toBeGreaterThan(2 ** 53);
    const kernel = recordedEvents().filter((e) => e.kind === 'nat' || e.kind === 'drop');
    expect(kernel.length).toBeGreaterThan(5);
    for (const e of kernel) {
      const late = { ...e, t: e.t + days120 };
      expect(decodeEvent(encodeEvent(late), 1)).toEqual(late);
    }
  });

  test('fields a newer natscope added are left out of the decoded event, the rest is kept', () => {
    const line = tampered(recorded('nat'), ['extra'], { nested: [1, 2] });
    const event = decodeEvent(line, 1);
    expect(event).not.toHaveProperty('extra');
    expect(event).toEqual(decodeEvent(JSON.stringify(recorded('nat')), 1));
  });

  test('a control character in a string is written as a JSON escape that decodes to the same string', () => {
    const event = { ...recordedEvents().find((e) => e.kind === 'drop')!, host: 'vpn\u001b[2J\u009b31m\u202e' };
    const line = encodeEvent(event);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(line).toContain('\\u001b[2J\\u009b31m\\u202e');
    expect(decodeEvent(line, 1)).toEqual(event);
  });

  const bad: [string, string, RegExp][] = [
    ['garbage', 'hello world', /line 7: not JSON/],
    ['truncated JSON', '{"v":1,"kind":"nat","t":1', /line 7: not JSON/],
    ['an array', '[1,2]', /not a JSON object/],
    ['no version', '{"kind":"nat"}', /no event version/],
    [
      'a newer version',
      '{"v":2,"kind":"nat","t":1,"host":"x","netns":0}',
      /event version 2 is newer than this natscope reads \(1\): upgrade natscope/,
    ],
    ['a fractional version', '{"v":1.5,"kind":"nat"}', /line 7: event version 1.5 is not valid/],
    [
      'an unknown kind',
      '{"v":1,"kind":"teleport","t":1,"host":"x","netns":0}',
      /unknown event kind "teleport" \(known: nat, /,
    ],
    [
      'a nat event without tuples',
      '{"v":1,"kind":"nat","t":1,"host":"x","netns":0,"manip":"DNAT","proto":"tcp","orig":{},"reply":{},"to":{},"ct":"1"}',
      /^line 7: nat event: orig\.src is missing$/,
    ],
    ['a drop without a reason', '{"v":1,"kind":"drop","t":1,"host":"x","netns":0}', /drop event: reason is missing/],
  ];
  test.each(bad)('%s is refused with the line number and why', (_name, line, message) => {
    expect(() => decodeEvent(line, 7)).toThrow(DecodeError);
    expect(() => decodeEvent(line, 7)).toThrow(message);
  });

  // Nested fields the frontends read, each broken the way a hand-edited or
  // corrupted recording breaks them: the line and the field are named.
  const nested: [string, () => string, string][] = [
    [
      'a drop whose packet is {}',
      () => tampered(recorded('drop'), ['packet'], {}),
      'drop event: packet.proto is missing',
    ],
    [
      'a drop whose packet flags are null',
      () => tampered(recorded('drop'), ['packet', 'flags'], null),
      'drop event: packet.flags should be a list, got null',
    ],
    [
      'a drop whose packet flags are a string',
      () => tampered(recorded('drop'), ['packet', 'flags'], 'SYN'),
      'drop event: packet.flags should be a list, got "SYN"',
    ],
    [
      'a drop whose packet flags are an object',
      () => tampered(recorded('drop'), ['packet', 'flags'], {}),
      'drop event: packet.flags should be a list, got {}',
    ],
    [
      'a drop whose first flag is a number',
      () => tampered(recorded('drop'), ['packet', 'flags'], [5]),
      'drop event: packet.flags[0] should be a string, got 5',
    ],
    [
      'a ct-new whose status is {}',
      () => tampered(recorded('ct-new'), ['status'], {}),
      'ct-new event: status should be a list, got {}',
    ],
    [
      'a ct-new whose status bit is null',
      () => tampered(recorded('ct-new'), ['status'], ['CONFIRMED', null]),
      'ct-new event: status[1] should be a string, got null',
    ],
    [
      'a status event whose lab is {}',
      () => tampered(recorded('status'), ['lab'], {}),
      'status event: lab.backend is missing',
    ],
    [
      'a status event whose lab pods are null',
      () => tampered(recorded('status'), ['lab', 'pods'], null),
      'status event: lab.pods should be a list, got null',
    ],
    [
      'a status event whose lab services are null',
      () => tampered(recorded('status'), ['lab', 'services'], null),
      'status event: lab.services should be a list, got null',
    ],
    [
      'a status event whose service has no endpoints',
      () => tampered(recorded('status'), ['lab', 'services', 0, 'endpoints'], undefined),
      'status event: lab.services[0].endpoints is missing',
    ],
    [
      'a status event whose host has a bad address',
      () => tampered(recorded('status'), ['lab', 'hosts', 'vpn', 'ip'], '10.0.1'),
      'status event: lab.hosts.vpn.ip should be an IPv4 address (a.b.c.d) or "" when unknown, got "10.0.1"',
    ],
    [
      'a status event whose kube-proxy cluster CIDR has host bits',
      () => tampered(recorded('status'), ['lab', 'kubeProxy', 'clusterCIDR'], '10.244.1.0/16'),
      'status event: lab.kubeProxy.clusterCIDR should be an IPv4 CIDR (a.b.c.d/n, no host bits set), got "10.244.1.0/16"',
    ],
    [
      'an event at t -5',
      () => tampered(recorded('nat'), ['t'], -5),
      'nat event: t should be a whole number of nanoseconds ≥ 0, got -5',
    ],
    [
      'an event at t 1e308',
      () => tampered(recorded('nat'), ['t'], 1e308),
      'nat event: t should be a whole number of nanoseconds ≥ 0, got 1e+308',
    ],
    [
      'an event past the u64 nanoseconds a kernel counts',
      () => tampered(recorded('nat'), ['t'], 2 ** 65),
      'nat event: t should be a whole number of nanoseconds ≥ 0, got 36893488147419103000',
    ],
    [
      'an event at a fractional t',
      () => tampered(recorded('nat'), ['t'], 1.5),
      'nat event: t should be a whole number of nanoseconds ≥ 0, got 1.5',
    ],
    [
      'a NAT from 999.999.1.1',
      () => tampered(recorded('nat'), ['orig', 'src'], '999.999.1.1'),
      'nat event: orig.src should be an IPv4 address (a.b.c.d, no leading zeros), got "999.999.1.1"',
    ],
    [
      'a NAT to an address with a leading zero',
      () => tampered(recorded('nat'), ['to', 'ip'], '010.244.2.2'),
      'nat event: to.ip should be an IPv4 address (a.b.c.d, no leading zeros), got "010.244.2.2"',
    ],
    [
      'a NAT from port -70000',
      () => tampered(recorded('nat'), ['orig', 'sport'], -70000),
      'nat event: orig.sport should be a port number (a whole number 0-65535), got -70000',
    ],
    [
      'a NAT to port 70000',
      () => tampered(recorded('nat'), ['to', 'port'], 70000),
      'nat event: to.port should be a port number (a whole number 0-65535), got 70000',
    ],
    [
      'a NAT of protocol ip300',
      () => tampered(recorded('nat'), ['proto'], 'ip300'),
      'nat event: proto should be tcp, udp, icmp or ipN (N 0-255), got "ip300"',
    ],
    [
      'a NAT that is neither DNAT nor SNAT',
      () => tampered(recorded('nat'), ['manip'], 'XNAT'),
      'nat event: manip should be one of "DNAT", "SNAT", got "XNAT"',
    ],
    [
      'a request with a negative latency',
      () => tampered(recorded('request'), ['latencyMs'], -1),
      'request event: latencyMs should be a number ≥ 0, got -1',
    ],
    [
      'a request with an unknown outcome',
      () => tampered(recorded('request'), ['outcome'], 'maybe'),
      'request event: outcome should be one of "answered", "timeout", "refused", "error", got "maybe"',
    ],
    [
      'a request whose peer is a number',
      () => tampered(recorded('request'), ['peer'], 5),
      'request event: peer should be a string, got 5',
    ],
    [
      'a lost count of -3',
      () =>
        JSON.stringify({ v: 1, kind: 'lost', t: 1, host: 'x', netns: 0, probe: 'nat', count: -3, source: 'sequence' }),
      'lost event: count should be a count (a whole number ≥ 0), got -3',
    ],
    [
      'a ping observation whose answer is "yes"',
      () => tampered(recorded('observation', 'ping'), ['result', 'answered'], 'yes'),
      'observation event: result.answered should be true or false, got "yes"',
    ],
    [
      'a conntrack observation whose entry has no reply tuple',
      () => tampered(recorded('observation', 'conntrack'), ['result', 0, 'reply'], undefined),
      'observation event: result[0].reply is missing',
    ],
    [
      'a conntrack observation whose entry flags are a string',
      () => tampered(recorded('observation', 'conntrack'), ['result', 0, 'flags'], 'UNREPLIED'),
      'observation event: result[0].flags should be a list, got "UNREPLIED"',
    ],
    [
      'a rules observation whose result is a number',
      () => tampered(recorded('observation', 'rules'), ['result'], 5),
      'observation event: result should be a string, got 5',
    ],
    [
      'a drops observation whose counter is negative',
      () => tampered(recorded('observation', 'drops'), ['result', 'vpnDrops'], -1),
      'observation event: result.vpnDrops should be a count (a whole number ≥ 0), got -1',
    ],
    [
      'an observation of an unknown command',
      () => tampered(recorded('observation', 'ping'), ['what'], 'teleport'),
      'observation event: what should be one of rules, routes, conntrack, ping, load, drops, rulePath, got "teleport"',
    ],
    [
      'a config whose kube-proxy options are null',
      () => tampered(recorded('config'), ['kubeProxy'], null),
      'config event: kubeProxy should be an object, got null',
    ],
  ];
  test.each(nested)('%s is refused, naming the line and the field', (_name, line, message) => {
    expect(() => decodeEvent(line(), 12)).toThrow(new DecodeError(12, message));
  });
});
