// The rule path of one request, explained from trace output captured on
// the lab (test/fixtures/ruletrace/README.md): each capture is what an
// `nft monitor trace` of its own heard while natscope traced the request,
// so explaining it must give the rule path natscope printed in that run.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { PROXY_MODES } from '../../src/events/types.js';
import { formatRulePath, withoutCounts } from '../../src/ruletrace/format.js';
import { chainNames, explainRulePath, masqueradeReason } from '../../src/ruletrace/rulePath.js';
import { tracedFlow } from '../../src/ruletrace/tracedRequest.js';
import { parseTrace } from '../../src/ruletrace/traceLine.js';
import { FIXTURES } from '../helpers.js';
import { packet } from './paths.js';

const DIR = join(FIXTURES, 'ruletrace');
const HOSTS = ['office', 'vpn', 'node1', 'node2'];

// the parts of natscope's --json output the tests compare with
const PrintedSchema = z.object({
  request: z.object({ sport: z.number().int(), outcome: z.string() }),
  rulePath: z.object({
    kubeProxy: z.object({
      mode: z.enum(PROXY_MODES),
      masqueradeAll: z.boolean(),
      clusterCIDR: z.string().nullable(),
    }),
    summary: z.array(z.string()),
    packets: z.array(
      z.object({
        host: z.string(),
        direction: z.enum(['request', 'reply']),
        steps: z.array(
          z.object({ chain: z.string(), rule: z.string(), handle: z.number().nullable(), verdict: z.string() }),
        ),
      }),
    ),
  }),
});

function explained(c: string) {
  const printed = PrintedSchema.parse(JSON.parse(readFileSync(join(DIR, c, 'natscope.json'), 'utf8')));
  const hosts = HOSTS.map((host) => ({
    host,
    records: parseTrace(readFileSync(join(DIR, c, `${host}.txt`), 'utf8')).records,
  }));
  const flow = tracedFlow({ via: 'service', pod: 'mysql' }, printed.request.sport);
  return { printed, path: explainRulePath(hosts, flow, printed.rulePath.kubeProxy) };
}

describe.each(['iptables', 'nftables'] as const)('the captured mysql request in %s mode', (mode) => {
  const names = chainNames(mode);

  test('the capture holds the rules natscope’s own listener reported for node1’s request in the same run', () => {
    for (const c of [`${mode}-incident`, `${mode}-masquerade-all`]) {
      const { printed, path } = explained(c);
      const rulesMet = (steps: { chain: string; rule: string; handle: number | null; verdict: string }[]) =>
        // counters are read when nft prints a line, so each listener has its own
        steps.map((s) => `${s.chain} #${s.handle} ${withoutCounts(s.rule)} → ${s.verdict}`);
      const theirs = printed.rulePath.packets.find((p) => p.host === 'node1' && p.direction === 'request');
      expect(theirs?.steps.length).toBeGreaterThan(0);
      expect(rulesMet(packet(path.packets, 'node1', 'request').steps)).toEqual(rulesMet(theirs?.steps ?? []));
    }
  });

  test('before the fix: node1 DNATs to the pod on node2 without the mark, no SNAT, and the vpn drops the reply', () => {
    const { printed, path } = explained(`${mode}-incident`);
    expect(printed.request.outcome).toBe('timeout');
    const node1 = packet(path.packets, 'node1', 'request');
    expect(node1.outcome).toEqual([
      'DNAT to 10.244.2.2:3306',
      `no ${names.mark}: clusterCIDR unset, masqueradeAll false`,
      `${names.post} returns (mark 0x4000 not set) → no SNAT`,
    ]);
    expect(node1.steps.find((s) => s.meaning === 'DNAT to 10.244.2.2:3306')?.chain.match(names.sep) !== null).toBe(
      true,
    );
    const vpn = packet(path.packets, 'vpn', 'reply');
    expect(vpn.packet).toMatch(/^10\.244\.2\.2:3306 → 192\.168\.10\.10:\d+/);
    expect(vpn.outcome.some((o) => o.startsWith('dropped by filter'))).toBe(true);
    expect(path.packets.some((p) => p.host === 'node1' && p.direction === 'reply')).toBe(false);
  });

  test('after masquerade-all on: node1 marks, DNATs and masquerades, and the reply comes back through node1', () => {
    const { printed, path } = explained(`${mode}-masquerade-all`);
    expect(printed.request.outcome).toBe('answered');
    const node1 = packet(path.packets, 'node1', 'request');
    expect(node1.steps.find((s) => s.verdict === `jump ${names.mark}`)?.meaning).toBe(
      'marked for SNAT (masqueradeAll true)',
    );
    expect(node1.outcome).toEqual(['DNAT to 10.244.2.2:3306', 'MASQUERADE: SNAT to this node’s address']);
    expect(packet(path.packets, 'node2', 'request').packet).toMatch(/^10\.0\.1\.11:\d+ → 10\.244\.2\.2:3306/);
    expect(packet(path.packets, 'node1', 'reply').packet).toMatch(/^10\.244\.2\.2:3306 → 10\.0\.1\.11:\d+/);
    expect(path.packets.flatMap((p) => p.outcome).some((o) => o.startsWith('dropped'))).toBe(false);
  });

  test('the text for a terminal holds only printable characters', () => {
    for (const line of formatRulePath(explained(`${mode}-incident`).path)) {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for
      expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    }
  });
});

describe('why kube-proxy marks a request for masquerade', () => {
  test('each setting gives its reason', () => {
    const kp = { mode: 'iptables' as const, masqueradeAll: false, clusterCIDR: null };
    expect(masqueradeReason(kp, '192.168.10.10')).toEqual({
      marks: false,
      why: 'clusterCIDR unset, masqueradeAll false',
    });
    expect(masqueradeReason({ ...kp, masqueradeAll: true }, '192.168.10.10').marks).toBe(true);
    expect(masqueradeReason({ ...kp, clusterCIDR: '10.244.0.0/16' }, '192.168.10.10')).toEqual({
      marks: true,
      why: 'the client 192.168.10.10 is outside clusterCIDR 10.244.0.0/16',
    });
    expect(masqueradeReason({ ...kp, clusterCIDR: '10.244.0.0/16' }, '10.244.1.2').marks).toBe(false);
  });
});
