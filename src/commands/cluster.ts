// natscope cluster trace: the probes on a real cluster's nodes, the events
// here. On each selected node a short-lived pod runs bpftrace alone
// (src/cluster/nodePods.ts); its raw output comes back through kubectl exec
// and is parsed, counted and named here (src/cluster/transport.ts,
// names.ts). Every node's stream goes into one, on one clock, in time order (merge.ts). What natscope
// created is deleted on every way out; what a killed run left is swept by
// the next once its time has passed.

import { type ClockAlignment, describeAlignment } from '../cluster/clocks.js';
import { isNamespaceName, isObjectName, Kubectl } from '../cluster/kubectl.js';
import { TimeOrderedMerge } from '../cluster/merge.js';
import { ClusterNames, namesSuffix } from '../cluster/names.js';
import { createNodePods, DEFAULT_IMAGE, DEFAULT_NAMESPACE, sweepExpired } from '../cluster/nodePods.js';
import { type NodeTracer, startNodeTracer } from '../cluster/transport.js';
import { NatscopeError } from '../errors.js';
import { encodeEvent } from '../events/codec.js';
import { formatEvent } from '../events/format.js';
import type { NatscopeEvent } from '../events/types.js';
import { parseProbeList } from '../tracer/probes.js';
import { progress } from '../util/progress.js';
import { safeLine } from '../util/terminal.js';
import { untilEnd } from './trace.js';

export interface ClusterTraceOptions {
  context?: string;
  // comma-separated node names; all nodes (up to MAX_NODES) when absent
  nodes?: string;
  namespace: string;
  image: string;
  probes: string;
  durationS?: number;
  ttlS?: number;
  detail?: number;
  json: boolean;
  attachTimeoutS: number;
  readyTimeoutS: number;
}

// Tracing more nodes at once is a choice to make by name (--nodes).
const MAX_NODES = 10;
// without --duration, the node pods end themselves after this long
const DEFAULT_TTL_S = 4 * 3600;
// with --duration: the time to create, start and stop on top of it
const TTL_MARGIN_S = 300;

// An image reference as a container runtime reads it: registry/path:tag or @digest.
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/;

export { DEFAULT_IMAGE, DEFAULT_NAMESPACE };

function usage(message: string, hint: string): NatscopeError {
  return new NatscopeError(message, { hint, exitCode: 2 });
}

// The options checked before anything is asked of the cluster.
function checkOptions(options: ClusterTraceOptions): { nodes: string[] | null; ttlS: number } {
  if (!isNamespaceName(options.namespace)) {
    throw usage(
      `--namespace "${safeLine(options.namespace).slice(0, 80)}" is not a namespace name`,
      'lowercase letters, digits and "-", at most 63 (e.g. --namespace natscope)',
    );
  }
  if (!IMAGE.test(options.image)) {
    throw usage(
      `--image "${safeLine(options.image).slice(0, 80)}" is not an image reference`,
      `e.g. --image ${DEFAULT_IMAGE} (docs/cluster.md, "Image")`,
    );
  }
  let nodes: string[] | null = null;
  if (options.nodes !== undefined) {
    nodes = [...new Set(options.nodes.split(',').map((n) => n.trim()))].filter(Boolean);
    const bad = nodes.find((n) => !isObjectName(n));
    if (nodes.length === 0 || bad !== undefined) {
      throw usage(
        `--nodes "${safeLine(bad ?? options.nodes).slice(0, 80)}" is not a list of node names`,
        'name nodes as "kubectl get nodes" lists them, comma-separated: --nodes node-a,node-b',
      );
    }
  }
  const ttlS = options.ttlS ?? (options.durationS ? Math.ceil(options.durationS) + TTL_MARGIN_S : DEFAULT_TTL_S);
  if (options.durationS && ttlS <= options.durationS) {
    throw usage(
      `--ttl ${ttlS} would end the node pods before --duration ${options.durationS} does`,
      `give the pods longer than the trace: --ttl ${Math.ceil(options.durationS) + TTL_MARGIN_S}`,
    );
  }
  return { nodes, ttlS };
}

export async function clusterTrace(options: ClusterTraceOptions): Promise<number> {
  const probes = parseProbeList(options.probes);
  const checked = checkOptions(options);
  const kubectl = new Kubectl({ context: options.context });
  const step = progress('cluster');

  const [nodes, pods, services, endpointSlices] = await Promise.all([
    kubectl.nodes(),
    kubectl.pods(),
    kubectl.services(),
    kubectl.endpointSlices(),
  ]);
  const known = nodes.map((n) => n.metadata.name);
  const selected = checked.nodes ?? known;
  const missing = selected.find((n) => !known.includes(n));
  if (missing !== undefined) {
    throw usage(
      `the cluster has no node named "${safeLine(missing)}"`,
      `its nodes: ${known.slice(0, MAX_NODES).join(', ')}${known.length > MAX_NODES ? ', …' : ''} (kubectl get nodes)`,
    );
  }
  if (selected.length === 0) throw new NatscopeError('the cluster has no nodes', { hint: 'check: kubectl get nodes' });
  if (selected.length > MAX_NODES) {
    throw usage(
      `the cluster has ${selected.length} nodes; natscope traces at most ${MAX_NODES} at once`,
      'choose the nodes the connection crosses: --nodes node-a,node-b',
    );
  }
  const names = ClusterNames.from({ nodes, pods, services, endpointSlices });
  step.log(`${selected.length} node(s) to trace; ${names.size} addresses named from the API`);

  const swept = await sweepExpired(kubectl, options.namespace);
  if (swept.length > 0)
    step.log(`deleted ${swept.length} expired natscope pod(s) a killed run left: ${swept.join(', ')}`);

  const run = await createNodePods(kubectl, {
    nodes: selected,
    namespace: options.namespace,
    image: options.image,
    ttlS: checked.ttlS,
    readyTimeoutMs: options.readyTimeoutS * 1000,
    log: step.log,
  });

  let t0: number | undefined;
  let shown = 0;
  const merged = new TimeOrderedMerge<NatscopeEvent>((raw) => {
    const event = names.name(raw);
    t0 ??= event.t;
    shown++;
    process.stdout.write(
      `${options.json ? encodeEvent(event) : formatEvent(event, t0) + safeLine(namesSuffix(event))}\n`,
    );
  });
  const onEvent = (event: NatscopeEvent) => merged.push(event);

  let tracers: NodeTracer[];
  try {
    tracers = await startAll(run.pods, (pod) =>
      startNodeTracer(kubectl, pod, {
        probes,
        detail: options.detail,
        onEvent,
        readyTimeoutMs: options.attachTimeoutS * 1000,
      }),
    );
  } catch (error) {
    merged.close();
    await run.remove();
    throw error;
  }
  step.log(
    `tracing ${probes.join(',')} on ${tracers.map((t) => `${t.node} (bpftrace ${t.bpftrace})`).join(', ')}; ${options.durationS ? `for ${options.durationS} s` : 'Ctrl-C to stop'}`,
  );
  step.log(`clocks, onto this machine's: ${tracers.map((t) => describeAlignment(t.node, t.clock)).join('; ')}`);

  const end = untilEnd(options.durationS);
  const stoppedBy = await Promise.race([
    end.ended.then(() => null),
    ...tracers.map((t) => t.tracer.done.then(() => t.node)),
  ]);
  const summaries = await Promise.all(tracers.map((t) => t.tracer.stop().catch(() => null)));
  merged.close();
  await run.remove();
  const received = summaries.reduce((n, s) => n + (s?.received ?? 0), 0);
  const lost = summaries.reduce((n, s) => n + (s?.lost ?? 0), 0);
  step.done(
    `${received} events from ${tracers.length} node(s), ${lost} lost; ${shown} shown${merged.late ? ` (${merged.late} arrived too late to be put in time order)` : ''}; node pods deleted. ${clockNote(tracers.map((t) => t.clock))}`,
  );
  end.done();
  if (stoppedBy !== null) {
    process.stderr.write(`natscope: tracing on node ${stoppedBy} ended early\n`);
    return 1;
  }
  return 0;
}

// Starts every node's tracer at once; if one fails, the others are stopped and the first failure is thrown.
async function startAll<P>(pods: P[], start: (pod: P) => Promise<NodeTracer>): Promise<NodeTracer[]> {
  const results = await Promise.allSettled(pods.map(start));
  const failed = results.find((r) => r.status === 'rejected');
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed) {
    await Promise.all(started.map((t) => t.tracer.stop().catch(() => null)));
    throw failed.reason;
  }
  return started;
}

function clockNote(clocks: ClockAlignment[]): string {
  const read = clocks.filter((c) => c.uncertaintyNs !== null);
  if (read.length === 0) return "No node's clock could be read: times across nodes are not comparable.";
  const worst = Math.max(...read.map((c) => c.uncertaintyNs ?? 0));
  return `Times across nodes agree to ±${(worst / 1e6).toFixed(1)} ms plus the nodes' wall-clock error (NTP).`;
}
