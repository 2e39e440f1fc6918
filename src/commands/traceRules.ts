// natscope trace --rules: one lab request, and which rule of which host did
// what to it, from the kernel's own rule tracing (nftrace: works natively,
// no kernel function probes). The netns lab, on this host or in the
// micro-VM, and the kind lab (its containers' namespaces, on this machine).
// With --events, the nat, conntrack and drop probes are attached in the
// lab's session for that request, and each rule's decision is joined with
// what the kernel did (ruletrace/join.ts): that needs kernel function
// probes, so the micro-VM where this kernel locks them down (netns lab only).

import { attachTimeoutMsOf } from '../tracer/outcome.js';
import { brokerAlive } from '../agent/brokerState.js';
import { openSession } from '../agent/control.js';
import { decidePlacement, type Placement } from '../agent/placement.js';
import type { Session } from '../agent/session.js';
import { FlowTracker } from '../events/flows.js';
import type { NatscopeEvent } from '../events/types.js';
import { formatJoinedPath, type JoinedPath, joinRulePath } from '../ruletrace/join.js';
import type { CommandOf } from '../agent/protocol.js';
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
  // attach the nat, conntrack and drop probes for the request and join them with its rule path
  events?: boolean;
  // with events: how long bpftrace may take to attach (undefined: where it runs decides)
  attachTimeoutS?: number;
}

// The probes whose events the rule path is joined with.
const JOINED_PROBES = ['nat', 'conntrack', 'drop'] as const;
// the pod retransmits its SYN-ACK a second later: the vpn drops each one
const SETTLE_MS = 2500;

// --rules, --request and --timeout go together, and with none of the event stream's options.
export function checkRulesOptions(o: {
  rules: boolean;
  request: string | undefined;
  timeoutGiven: boolean;
  events?: boolean;
  timeoutS: number;
  others: string[];
}): void {
  if (!o.rules)
    throw new NatscopeError(
      `--${o.request !== undefined ? 'request' : o.events ? 'events' : 'timeout'} goes with --rules`,
      {
        hint: 'sudo natscope trace --rules --request mysql',
        exitCode: 2,
      },
    );
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
  // --events attaches the probes: how long they may take goes with it
  const other = o.others.find((name) => !(name === 'attachTimeout' && o.events));
  if (other === 'attachTimeout')
    throw new NatscopeError(
      '--attach-timeout goes with --events under --rules: a rule trace alone attaches no probes',
      {
        hint: `sudo natscope trace --rules --request ${o.request} --events --attach-timeout 300, or leave out --attach-timeout`,
        exitCode: 2,
      },
    );
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
  if (options.lab === 'kind' && options.events)
    throw new NatscopeError(
      "--events joins the netns lab's rule path with its probes; the kind lab traces rules only",
      {
        hint: `sudo natscope trace --rules --request ${options.target} --lab kind (without --events); the kind lab's NAT events: sudo natscope tui --lab kind`,
        exitCode: 2,
      },
    );
  requireRoot(`trace --rules --request ${options.target}${prefixFlag}${options.lab === 'kind' ? ' --lab kind' : ''}`);
  const command: CommandOf<'ruleTrace'> = {
    cmd: 'ruleTrace',
    target: options.target,
    timeoutMs: Math.round(options.timeoutS * 1000),
  };
  let traced: RuleTrace;
  let joined: JoinedPath | null = null;
  if (options.events) {
    ({ traced, joined } = await traceWithEvents(options, command, prefixFlag));
  } else {
    // the lab where it is: natively, or in the micro-VM, whose agent traces the rules there
    // the kind lab is always here (its control refuses --vm on)
    const client = await (await labControl(options.lab)).connect({ prefix: options.prefix, vm: options.vm });
    try {
      traced = await client.call(command);
    } finally {
      await client.close();
    }
  }
  const r = traced.request;
  if (options.json) {
    process.stdout.write(`${jsonLine(joined ? { ...traced, joined } : traced)}\n`);
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
    if (joined) {
      w('');
      w("Which rule did it, next to what the kernel did (the probes' events of the same flow):");
      for (const line of formatJoinedPath(joined)) w(`  ${line}`);
    }
    const skipped = Object.values(traced.skipped).reduce((a, b) => a + b, 0);
    w('');
    w(
      `rule tracing: ${traced.timing.totalMs.toFixed(0)} ms in all, the request itself ${traced.timing.requestMs.toFixed(0)} ms${skipped ? `; ${skipped} lines of nft's output were not valid trace lines (left out)` : ''}`,
    );
  }
  return r.outcome === 'answered' ? 0 : 1;
}

// The traced request in a session with the nat, conntrack and drop probes
// attached where the lab is; its flow's kernel events joined with its rule path.
async function traceWithEvents(
  options: TraceRulesOptions,
  command: CommandOf<'ruleTrace'>,
  prefixFlag: string,
): Promise<{ traced: RuleTrace; joined: JoinedPath }> {
  const inVm = await brokerAlive(options.prefix);
  if (!inVm) {
    if (options.vm === 'on')
      throw new NatscopeError(`no micro-VM lab with prefix ${options.prefix} is up`, {
        hint: `sudo natscope lab up --vm on${prefixFlag}`,
        exitCode: 2,
      });
    // the lab is on this host: its kernel must let the nat and conntrack probes attach
    const where = await decidePlacement('auto', true, () => undefined);
    if (where !== 'native')
      throw new NatscopeError(
        "--events needs kernel function probes (nf_nat_setup_info), which this kernel does not let attach; the micro-VM's kernel does",
        {
          hint: `sudo natscope lab down${prefixFlag} && sudo natscope lab up --vm on${prefixFlag} && sudo natscope trace --rules --request ${options.target} --events${prefixFlag}`,
          exitCode: 2,
        },
      );
  }
  const events: NatscopeEvent[] = [];
  const log = (line: string) => process.stderr.write(`${safeLine(`natscope: ${line}`)}\n`);
  const session: Session = await openSession({
    vm: inVm ? 'on' : 'off',
    lab: 'netns',
    prefix: options.prefix,
    prefixGiven: true,
    bringUp: false,
    probes: [...JOINED_PROBES],
    onEvent: (e) => events.push(e),
    log,
    attachTimeoutMs: attachTimeoutMsOf(options.attachTimeoutS),
  });
  let traced: RuleTrace;
  try {
    traced = await session.client.call(command);
    // late kernel events (a retransmitted reply dropped again) arrive meanwhile
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    await session.stopTracing();
  } finally {
    await session.close();
  }
  const flows = new FlowTracker();
  for (const e of events) flows.add(e);
  const r = traced.request;
  return { traced, joined: joinRulePath(traced.rulePath, flows.ofRequest(r) ?? { nat: [], drops: [], events: [] }) };
}
