// natscope trace --rules: one lab request, and which rule of which host did
// what to it, from the kernel's own rule tracing (nftrace: works natively,
// no kernel function probes). Needs the netns lab on this host.

import type { Placement } from '../agent/placement.js';
import { brokerAlive } from '../agent/brokerState.js';
import { NatscopeError } from '../errors.js';
import type { LabBackend } from '../events/types.js';
import { NetnsLab } from '../lab/netns/lab.js';
import { readState } from '../lab/netns/state.js';
import { DEFAULT_PREFIX } from '../lab/prefix.js';
import { formatRulePath } from '../ruletrace/format.js';
import { tracedRequest } from '../ruletrace/tracedRequest.js';
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
  if (options.lab !== 'netns')
    throw new NatscopeError('--rules traces the netns lab only', {
      hint: `sudo natscope lab up --vm off${prefixFlag} && sudo natscope trace --rules --request ${options.target}`,
      exitCode: 2,
    });
  if (options.vm === 'on')
    throw new NatscopeError('--rules traces a lab on this host (nftrace needs no micro-VM)', {
      hint: `sudo natscope trace --rules --request ${options.target} --vm off`,
      exitCode: 2,
    });
  requireRoot('trace --rules');
  if (await brokerAlive(options.prefix))
    throw new NatscopeError(
      `the lab with prefix ${options.prefix} runs in the micro-VM; --rules traces a lab on this host`,
      {
        hint: `sudo natscope lab down${prefixFlag} && sudo natscope lab up --vm off${prefixFlag}`,
      },
    );
  if (!(await readState(options.prefix)))
    throw new NatscopeError(`no lab is up (prefix ${options.prefix})`, {
      hint: `sudo natscope lab up --vm off${prefixFlag}`,
    });
  const lab = await NetnsLab.open(options.prefix);
  const timeoutMs = Math.round(options.timeoutS * 1000);
  const traced = await tracedRequest(lab, options.target, timeoutMs);
  const r = traced.request;
  if (options.json) {
    const { hosts: _records, ...rest } = traced;
    process.stdout.write(`${jsonLine(rest)}\n`);
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
