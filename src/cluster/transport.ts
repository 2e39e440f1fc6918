// bpftrace on a cluster node, its output read here. natscope composes the
// probe program where the user is (for the bpftrace version the node's pod
// reports, and the modules with BTF on the node's kernel), hands it to
// bpftrace on `kubectl exec` stdin, and reads bpftrace's raw output on
// stdout with the same parser, flush assembly and loss counting as a local
// bpftrace (src/tracer/bpftrace.ts, followBpftrace). Each node's events are
// named after the node and put on one clock (clocks.ts), so that the
// streams of several nodes merge into one.

import { NatscopeError, describeError } from '../errors.js';
import { isKernelEvent, monotonicNs, type NatscopeEvent } from '../events/types.js';
import {
  ATTACHED,
  type BpftraceProcess,
  type EventReceiver,
  exitOf,
  followBpftrace,
  type Tracer,
} from '../tracer/bpftrace.js';
import { type DropReasons, dropReasonsFrom, findEnum } from '../tracer/btf.js';
import { DEFAULT_DETAIL_PER_SECOND, detailBudgetArgument } from '../tracer/detail.js';
import type { ProbeFamily } from '../tracer/parse.js';
import { composeProgram } from '../tracer/probes.js';
import {
  type DetectedBpftrace,
  bpftraceEnv,
  featuresOf,
  formatVersion,
  parseBpftraceVersion,
  supportOf,
} from '../tracer/version.js';
import { onCleanup } from '../util/cleanup.js';
import { killGroup } from '../util/process.js';
import { safeLine } from '../util/terminal.js';
import { type ClockAlignment, readNodeClock } from './clocks.js';
import type { Kubectl } from './kubectl.js';
import { execArgs, type NodePod } from './nodePods.js';

// Per stream and flush, as the local tracer (src/tracer/bpftrace.ts).
const BUFFER_EVENTS = 16384;
const PERF_PAGES = 1024;

// What runs in the node pod: the program arrives on stdin ($1 bytes), is
// written to a private folder, and bpftrace runs it with the detail budget
// ($2); stdin is then watched for its end, which is natscope asking bpftrace
// to stop (SIGTERM: it prints its exit dump) or natscope gone (killed: the
// exec stream closes). If bpftrace ends first, so does the script. A fixed
// text: nothing from the user or the cluster is ever part of it.
export const NODE_SCRIPT = [
  'd=$(mktemp -d) || exit 125',
  'trap \'rm -rf "$d"\' EXIT',
  'head -c "$1" > "$d/natscope.bt" || exit 125',
  'exec 3<&0 0</dev/null',
  'bpftrace -f json "$d/natscope.bt" "$2" 3<&- &',
  'pid=$!',
  '( while read -r _ <&3; do :; done; kill -TERM "$pid" 2>/dev/null ) &',
  'watcher=$!',
  'exec 3<&-',
  'wait "$pid"',
  'status=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n');

// What a node's pod is asked first: its bpftrace's version, and which modules have BTF of their own.
export const INSPECT_SCRIPT =
  "bpftrace --version; echo \"natscope-btf:$(ls /sys/kernel/btf 2>/dev/null | tr '\\n' ' ')\"";

export interface NodeInfo {
  bpftrace: DetectedBpftrace;
  moduleBtf: Set<string>;
}

// The node's bpftrace (refused if missing or too old, as locally) and its kernel's module BTF.
export async function inspectNode(kubectl: Kubectl, pod: NodePod): Promise<NodeInfo> {
  const out = await kubectl.run(execArgs(pod, ['sh', '-c', INSPECT_SCRIPT]), {
    what: `kubectl exec (bpftrace --version on node ${pod.node})`,
  });
  const version = parseBpftraceVersion(out.split('\n')[0] ?? '');
  if (version === null) {
    throw new NatscopeError(
      `the node pod on ${pod.node} has no working bpftrace (it said: ${safeLine(out.split('\n')[0] ?? '').slice(0, 80)})`,
      { hint: 'use an image with bpftrace 0.17 or newer: --image (docs/cluster.md, "Image")' },
    );
  }
  if (supportOf(version) === 'too-old') {
    throw new NatscopeError(`bpftrace ${formatVersion(version)} in the node pod on ${pod.node} is too old`, {
      hint: 'use an image with bpftrace 0.17 or newer: --image (docs/cluster.md, "Image")',
    });
  }
  const listed = /^natscope-btf:(.*)$/m.exec(out)?.[1] ?? '';
  const moduleBtf = new Set(listed.split(' ').filter((m) => /^[\w-]{1,64}$/.test(m) && m !== 'vmlinux'));
  return {
    bpftrace: { binary: 'bpftrace', version, features: featuresOf(version), support: supportOf(version) },
    moduleBtf,
  };
}

// Drop reason names from the node kernel's own BTF (they move between kernel versions).
export async function nodeDropReasons(kubectl: Kubectl, pod: NodePod): Promise<DropReasons> {
  const what = `kubectl exec (the BTF of node ${pod.node})`;
  const blob = await kubectl.read(execArgs(pod, ['cat', '/sys/kernel/btf/vmlinux']), what);
  const values = findEnum(blob, 'skb_drop_reason');
  if (!values) {
    throw new NatscopeError(`node ${pod.node}'s kernel BTF has no enum skb_drop_reason`, {
      hint: 'drop reasons need Linux 5.17 or newer on the node; trace without drops: --probes nat,conntrack',
    });
  }
  return dropReasonsFrom(values, `node ${pod.node}`);
}

// the node's events one at a time, or a flush's at once (what a merge takes)
export type NodeTracerOptions = EventReceiver & {
  probes: ProbeFamily[];
  detail?: number;
  readyTimeoutMs?: number;
  flushWaitMs?: number;
  // local monotonic ns to add to the node's, when its clock is not read (tests)
  clock?: ClockAlignment;
  // after each flush: every event still to come from this node happened after this time (on the common clock)
  onThrough?: (t: number) => void;
};

export interface NodeTracer {
  node: string;
  bpftrace: string;
  clock: ClockAlignment;
  tracer: Tracer;
}

// Starts bpftrace in a node's pod and follows it: resolves once its probes are attached.
export async function startNodeTracer(kubectl: Kubectl, pod: NodePod, options: NodeTracerOptions): Promise<NodeTracer> {
  const info = await inspectNode(kubectl, pod);
  const dropReasons = options.probes.includes('drop')
    ? await nodeDropReasons(kubectl, pod)
    : dropReasonsFrom(new Map(), 'none');
  const clock = options.clock ?? (await readNodeClock(kubectl, pod));
  const program = await composeProgram(options.probes, info.bpftrace.version, undefined, (m) => info.moduleBtf.has(m));
  const budget = detailBudgetArgument(options.detail ?? DEFAULT_DETAIL_PER_SECOND);
  const env = bpftraceEnv(info.bpftrace.features, {
    attachNotice: ATTACHED,
    perfPages: PERF_PAGES,
    mapKeys: BUFFER_EVENTS,
  });
  const command = [
    'env',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    'sh',
    '-c',
    NODE_SCRIPT,
    'natscope-node',
    String(Buffer.byteLength(program)),
    budget,
  ];
  let child: ReturnType<Kubectl['spawn']>;
  try {
    child = kubectl.spawn(execArgs(pod, command, true));
  } catch (cause) {
    throw new NatscopeError(`cannot start kubectl exec on node ${pod.node}: ${describeError(cause)}`, { cause });
  }
  // the program now; stdin stays open until natscope asks bpftrace to stop
  child.stdin?.on('error', () => undefined);
  child.stdin?.write(program);
  const running: BpftraceProcess = {
    pid: child.pid,
    stdout: child.stdout,
    stderr: child.stderr,
    result: child.then(exitOf),
    running: () => child.exitCode === null && child.signalCode === null,
    // the end of stdin is the node script's cue to stop bpftrace in order; while attaching, kubectl goes at once
    stop: (attached) => (attached ? child.stdin?.end() : killGroup(child, 'SIGKILL')),
    kill: () => killGroup(child, 'SIGKILL'),
  };
  const asMerged = mergedEvent(pod.node, clock);
  const { onEvent, onEvents, onThrough } = options;
  const receiver: EventReceiver = onEvents
    ? { onEvents: (events) => onEvents(events.map(asMerged)) }
    : { onEvent: (event) => onEvent(asMerged(event)) };
  // on every way out: bpftrace on the node stopped in order (kubectl killed as a last resort)
  const cleanup = onCleanup(
    `stop bpftrace on node ${pod.node}`,
    () => followed.halt(),
    () => running.kill(),
  );
  const followed = followBpftrace(running, {
    probes: options.probes,
    found: info.bpftrace,
    context: {
      hostOf: () => pod.node,
      dropReason: (code) => dropReasons.name(code),
      // the tracer's own stamps (errors, bpftrace's loss reports, counts its exit dump holds) on the node's clock, like its kernel's times
      now: () => monotonicNs() - clock.offsetNs,
    },
    ...receiver,
    onThrough: onThrough && ((ns) => onThrough(onCommonClock(ns, clock))),
    readyTimeoutMs: options.readyTimeoutMs,
    flushWaitMs: options.flushWaitMs,
    onExit: async () => cleanup.cancel(),
  });
  try {
    const tracer = await followed.ready;
    return { node: pod.node, bpftrace: formatVersion(info.bpftrace.version), clock, tracer };
  } catch (error) {
    await followed.halt();
    if (error instanceof NatscopeError) {
      throw new NatscopeError(`node ${pod.node}: ${error.message}`, { hint: error.hint, cause: error });
    }
    throw error;
  }
}

// A node's events as the merged stream carries them: every one moved from
// the node's clock to the common one (its kernel's times, a loss placed at
// the event after the gap, and the tracer's own stamps, which startNodeTracer
// reads through the node's clock), and the tracer's own reports (loss,
// errors) named after the node. A kernel event is the tracer's own new
// object, handed over: its time is moved in place (one object per event,
// not two; thousands a flush).
export function mergedEvent(node: string, clock: ClockAlignment): (event: NatscopeEvent) => NatscopeEvent {
  return (event) => {
    const t = onCommonClock(event.t, clock);
    if (isKernelEvent(event)) {
      event.t = t;
      return event;
    }
    if (event.kind === 'error') return { ...event, t, host: node, message: `node ${node}: ${event.message}` };
    if (event.host === 'natscope') return { ...event, t, host: node };
    return { ...event, t };
  };
}

// A time on a node's monotonic clock, on the common one.
export const onCommonClock = (ns: number, clock: ClockAlignment): number => Math.max(0, ns + clock.offsetNs);
