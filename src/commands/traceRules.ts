// natscope trace --rules: one lab request, and which rule of which host did
// what to it, from the kernel's own rule tracing (nftrace: works natively,
// no kernel function probes). The netns lab, on this host or in the
// micro-VM, and the kind lab (its containers' namespaces, on this machine).

import type { Placement } from '../agent/placement.js';
import { NatscopeError } from '../errors.js';
import { DEFAULT_PREFIX } from '../lab/prefix.js';
import type { LabBackend } from '../events/types.js';
import { labControl } from '../agent/control.js';
import { formatRulePath } from '../ruletrace/format.js';
import type { RuleTrace } from '../ruletrace/rulePath.js';
import { TRACED_TIMEOUT_MAX_S } from '../ruletrace/tracedRequest.js';
import { requireRoot } from '../util/root.js';
import { jsonLine, safeLine } from '../util/terminal.js';

export interface TraceRulesOptions {
  target: string;
  timeoutS: number;
  json: boolean;
  prefix: string;
  vm: Placement;
  lab: LabBackend;
}

// --rules, --request and --timeout go together, and with none of the event stream's options.
export function checkRulesOptions(o: {
  rules: boolean;
  request: string | undefined;
  timeoutGiven: boolean;
  timeoutS: number;
  others: string[];
}): void {
  if (!o.rules)
    throw new NatscopeError(`--${o.request !== undefined ? 'request' : 'timeout'} goes with --rules`, {
      hint: 'sudo natscope trace --rules --request mysql',
      exitCode: 2,
    });
  if (o.request === undefined)
    throw new NatscopeError('--rules follows one lab request: name its target with --request', {
      hint: 'sudo natscope trace --rules --request mysql',
      exitCode: 2,
    });
  if (o.request.trim() === '')
    throw new NatscopeError('--request needs a target, and it is empty', {
      hint: 'name a Service or pod of the lab: --request mysql (or nginx, pod/nginx, pod/mysql)',
      exitCode: 2,
    });
  if (o.timeoutS > TRACED_TIMEOUT_MAX_S)
    throw new NatscopeError(
      `--timeout ${o.timeoutS} is too long: a traced request waits ${TRACED_TIMEOUT_MAX_S} s at most`,
      {
        hint: `sudo natscope trace --rules --request ${o.request} --timeout 3 (a lab request answers in milliseconds or not at all)`,
        exitCode: 2,
      },
    );
  const other = o.others[0];
  if (other !== undefined) {
    const flag = `--${other.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new NatscopeError(`${flag} is an option of the event stream, not of --rules`, {
      hint: `sudo natscope trace --rules --request ${o.request}, or sudo natscope trace ${flag} … without --rules`,
      exitCode: 2,
    });
  }
}

export async function traceRules(options: TraceRulesOptions): Promise<number> {
  const prefixFlag = options.prefix === DEFAULT_PREFIX ? '' : ` --prefix ${options.prefix}`;
  if (options.lab === 'kind' && options.vm === 'on')
    throw new NatscopeError("the kind lab runs on this machine's Docker, not in the micro-VM", {
      hint: `sudo natscope trace --rules --request ${options.target} --lab kind (without --vm on)`,
      exitCode: 2,
    });
  requireRoot(`trace --rules --request ${options.target}${prefixFlag}${options.lab === 'kind' ? ' --lab kind' : ''}`);
  // the lab where it is: natively, or in the micro-VM, whose agent traces the
  // rules there; the kind lab is always here (its control refuses --vm on)
  const client = await (await labControl(options.lab)).connect({ prefix: options.prefix, vm: options.vm });
  let traced: RuleTrace;
  try {
    traced = await client.call({
      cmd: 'ruleTrace',
      target: options.target,
      timeoutMs: Math.round(options.timeoutS * 1000),
    });
  } finally {
    await client.close();
  }
  const r = traced.request;
  if (options.json) {
    process.stdout.write(`${jsonLine(traced)}\n`);
  } else {
    const what = `${r.target} (${r.dst}:${r.dport}) from ${r.src ?? '?'}:${r.sport ?? '?'}`;
    const outcome =
      r.outcome === 'answered'
        ? `answered in ${r.latencyMs} ms by pod ${r.pod} on ${r.node}; the pod saw the client as ${r.peer}`
        : r.outcome === 'timeout'
          ? `no answer within ${options.timeoutS} s (timed out)`
          : r.outcome;
    const w = (line: string) => process.stdout.write(`${line}\n`);
    w(safeLine(`${what}: ${outcome}`));
    for (const line of formatRulePath(traced.rulePath)) w(line);
    const skipped = Object.values(traced.skipped).reduce((a, b) => a + b, 0);
    w('');
    w(
      `rule tracing: ${traced.timing.totalMs.toFixed(0)} ms in all, the request itself ${traced.timing.requestMs.toFixed(0)} ms${skipped ? `; ${skipped} lines of nft's output were not valid trace lines (left out)` : ''}`,
    );
  }
  return r.outcome === 'answered' ? 0 : 1;
}
