// The panel of `w` (which rule): while the agent traces one request with
// the kernel's nftrace, how long it has been at it; then the request's
// outcome and its rule path host by host (formatRulePath), or why it
// failed; then, when the session's probes see NAT, each host's rule
// decision next to the kernel's binding or drop of the same flow (join.ts),
// redrawn as the flow's late events (retransmitted replies, their drops)
// arrive. Its text comes from one function, ruleTraceText, so what is shown
// of a trace grows in one place. Every line from the kernel, the lab or an
// error passes through the terminal sanitiser (safeLine here, and seg()
// again as it is drawn).

import type { RequestEvent } from '../src/events/types.js';
import { formatRulePath } from '../src/ruletrace/format.js';
import { type FlowEvents, formatJoinedPath, joinRulePath } from '../src/ruletrace/join.js';
import type { RuleTrace } from '../src/ruletrace/rulePath.js';
import { TRACED_HOSTS } from '../src/ruletrace/tracedRequest.js';
import { safeLine } from '../src/util/terminal.js';
import type { RuleTraceState } from './keys.js';
import { seg, wrap, type Line, type Style } from './text.js';

const BOLD: Style = { bold: true };
const DIM: Style = { fg: 'gray' };

// How the request ended, as the panel's first line.
function requestLine(trace: RuleTrace): string {
  const r = trace.request;
  const what = `${r.target} (${r.dst}:${r.dport}) from ${r.src ?? '?'}:${r.sport ?? '?'}`;
  const outcome =
    r.outcome === 'answered'
      ? `answered in ${r.latencyMs} ms by pod ${r.pod ?? '?'} on ${r.node ?? '?'}; the pod saw the client as ${r.peer ?? '?'}`
      : r.outcome === 'timeout'
        ? `no answer within ${r.latencyMs} ms (timed out)`
        : `${r.outcome}${r.detail ? `: ${r.detail}` : ''}`;
  return `${what}: ${outcome}`;
}

// What the session's tracer saw of the traced request's flow.
export interface KernelView {
  // the probe families attached ([] when nothing traces)
  probes: readonly string[];
  // the kernel events of the flow this request made, if any arrived
  flowOf(request: RequestEvent): FlowEvents | undefined;
}

// The rule path joined with the kernel's side, or why it is not.
function joinedText(trace: RuleTrace, kernel: KernelView | undefined): string[] {
  if (!kernel) return [];
  if (!kernel.probes.includes('nat'))
    return [
      '',
      `The kernel's side (the NAT bindings) needs the nat probes; this session traces ${kernel.probes.join(',') || 'nothing'} (natscope tui --vm on attaches them in the micro-VM).`,
    ];
  const flow = kernel.flowOf(trace.request);
  if (!flow) return ['', "The kernel's side: no event of this request's flow arrived (yet)."];
  return [
    '',
    "The rules' decisions and the kernel's, host by host:",
    ...formatJoinedPath(joinRulePath(trace.rulePath, flow)),
  ];
}

// Everything the panel says of a finished trace, as plain lines.
export function ruleTraceText(trace: RuleTrace, kernel?: KernelView): string[] {
  const skipped = Object.values(trace.skipped).reduce((a, b) => a + b, 0);
  return [
    requestLine(trace),
    '',
    ...formatRulePath(trace.rulePath),
    ...joinedText(trace, kernel),
    '',
    `rule tracing: ${trace.timing.totalMs.toFixed(0)} ms in all, the request itself ${trace.timing.requestMs.toFixed(0)} ms${skipped ? `; ${skipped} lines of nft's output were not valid trace lines (left out)` : ''}`,
  ].map(safeLine);
}

// How long a trace takes where the lab is: said while it runs.
function expected(where: string | null): string {
  if (where === 'native') return 'about 1 s on this host';
  if (where === 'micro-vm') return '7–14 s in the micro-VM';
  return 'about 1 s on this host, 7–14 s in the micro-VM';
}

// The panel's lines at width w (long rule lines wrap, indented).
export function rulePanelLines(
  rules: RuleTraceState,
  where: string | null,
  w: number,
  now: number,
  kernel?: KernelView,
): Line[] {
  switch (rules.state) {
    case 'running': {
      const seconds = Math.max(0, Math.floor((now - rules.since) / 1000));
      return [
        [seg(`tracing one request to ${rules.target} from the office…  ${seconds} s`, { fg: 'yellow', bold: true })],
        [],
        ...wrap(
          [seg(`the kernel's nftrace on ${TRACED_HOSTS.join(', ')} reports every rule the request's packets meet`)],
          w,
          ' ',
        ),
        [seg(`it takes ${expected(where)}`, DIM)],
      ];
    }
    case 'failed':
      return [
        [seg(`rule trace of ${rules.target} failed`, { fg: 'red', bold: true })],
        ...wrap([seg(safeLine(rules.error))], w, ' '),
        [],
        [seg('w traces it again · Esc closes', DIM)],
      ];
    case 'done': {
      const out: Line[] = [];
      for (const text of ruleTraceText(rules.trace, kernel)) {
        // the per-host headings and the summary's heading stand out
        const style = text.startsWith('rule tracing:') ? DIM : text !== '' && !text.startsWith(' ') ? BOLD : undefined;
        out.push(...wrap([seg(text, style)], w, ' ', 6));
      }
      out.push([], [seg('w traces it again · Esc closes', DIM)]);
      return out;
    }
  }
}
