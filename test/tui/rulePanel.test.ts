// The `w` panel's text on the walkthrough's recording (captured in the
// micro-VM: nftrace and the nat, conntrack and drop probes on the same
// request, test/fixtures/recordings/README.md): the rule path, then each
// host's rule decision next to what the kernel did to the same flow, or why
// the kernel's side cannot be shown.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NatscopeEvent, RequestEvent } from '../../src/events/types.js';
import type { RuleTrace } from '../../src/ruletrace/rulePath.js';
import { ruleTraceText } from '../../tui/rulePanel.js';
import { ViewModel } from '../../tui/viewModel.js';
import { FIXTURES, recordedEvents } from '../helpers.js';

const RECORDING = join(FIXTURES, 'recordings', 'walkthrough.jsonl');

// The recording's first traced request (step 4, before the fix) as the agent
// answered it, and a live model that has seen every event of the run.
function firstTrace(events: NatscopeEvent[]): RuleTrace {
  const at = events.findIndex((e) => e.kind === 'observation' && e.what === 'rulePath');
  const path = events[at];
  const request = events
    .slice(0, at)
    .reverse()
    .find((e): e is RequestEvent => e.kind === 'request' && path?.kind === 'observation' && e.target === path.subject);
  if (path?.kind !== 'observation' || path.what !== 'rulePath' || !request)
    throw new Error('the recording holds no traced request');
  return { request, rulePath: path.result, skipped: {}, timing: { requestMs: 0, totalMs: 0 } };
}

describe("the rule panel joins the rule path with the session's kernel events", () => {
  const events = recordedEvents(RECORDING);
  const trace = firstTrace(events);
  const model = new ViewModel({ kind: 'live', placement: 'auto' });
  // the session as it is while its tracer runs: every event up to the run's last rule path (step 7)
  const lastPath = events.findLastIndex((e) => e.kind === 'observation' && e.what === 'rulePath');
  for (const e of events.slice(0, lastPath + 1)) model.ingest(e, 0);

  it("shows node1's DNAT and the vpn's drop, each as the rules decided and as the kernel did it, agreeing", () => {
    const text = ruleTraceText(trace, model.kernelView()).join('\n');
    expect(text).toContain("The rules' decisions and the kernel's, host by host:");
    expect(text).toMatch(/^node1 DNAT$/m);
    expect(text).toMatch(/^vpn drop$/m);
    expect(text).toMatch(/kernel: .*10\.244\.2\.2:3306/);
    expect(text).toMatch(/NETFILTER_DROP/);
    expect(text).not.toContain('✗');
  });

  it("says the kernel's side needs the nat probes when the session does not trace them", () => {
    const kernel = { ...model.kernelView(), probes: ['drop'] };
    const text = ruleTraceText(trace, kernel);
    expect(text.join('\n')).toContain(
      "The kernel's side (the NAT bindings) needs the nat probes; this session traces drop",
    );
    expect(text.some((l) => /^node1 DNAT$/.test(l))).toBe(false);
  });

  it('says so when no event of the flow arrived, and shows the rule path alone without a session', () => {
    const empty = new ViewModel({ kind: 'live', placement: 'auto' });
    const status = events.find((e) => e.kind === 'status' && e.state === 'tracing');
    if (status) empty.ingest(status, 0);
    expect(ruleTraceText(trace, empty.kernelView()).join('\n')).toContain("no event of this request's flow arrived");
    const alone = ruleTraceText(trace);
    expect(alone.join('\n')).not.toContain("The kernel's side");
    expect(alone.join('\n')).toContain('Rule path:');
  });
});
