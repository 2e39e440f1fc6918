// A cluster tracing session, whatever shows it (`cluster trace` prints it,
// `cluster tui` draws it, `cluster diagnose` judges it): the options checked
// before the cluster is asked anything, the API read for names, the expired
// pods of killed runs swept, one node pod per selected node, bpftrace
// started in each, and every node's events merged into one stream on one
// clock, each with its Kubernetes names. stop() stops bpftrace on every node
// and deletes the run's pods; the pods are also deleted on natscope's other
// ways out (its cleanups), as nodePods.ts registers them.

import { type ClockAlignment, describeAlignment } from './clocks.js';
import { isNamespaceName, isObjectName, Kubectl } from './kubectl.js';
import { TimeOrderedMerge } from './merge.js';
import { ClusterNames, type ClusterObjects } from './names.js';
import { createNodePods, DEFAULT_IMAGE, stopped, sweepExpired } from './nodePods.js';
import { type NodeTracer, startNodeTracer } from './transport.js';
import { NatscopeError } from '../errors.js';
import type { NatscopeEvent } from '../events/types.js';
import type { ProbeFamily } from '../tracer/parse.js';
import { safeLine } from '../util/terminal.js';

export interface ClusterSessionOptions {
  context?: string;
  // comma-separated node names; all nodes (up to MAX_NODES) when absent
  nodes?: string;
  namespace: string;
  image: string;
  durationS?: number;
  ttlS?: number;
  detail?: number;
  attachTimeoutS: number;
  readyTimeoutS: number;
}

// Tracing more nodes at once is a choice to make by name (--nodes).
export const MAX_NODES = 10;
// without --duration, the node pods end themselves after this long
const DEFAULT_TTL_S = 4 * 3600;
// with --duration: the time to create, start and stop on top of it
const TTL_MARGIN_S = 300;

// An image reference as a container runtime reads it: registry/path:tag or @digest.
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,254}$/;

export function usage(message: string, hint: string): NatscopeError {
  return new NatscopeError(message, { hint, exitCode: 2 });
}

export function checkImage(image: string, option = '--image'): string {
  if (!IMAGE.test(image)) {
    throw usage(
      `${option} "${safeLine(image).slice(0, 80)}" is not an image reference`,
      `e.g. --image ${DEFAULT_IMAGE} (docs/cluster.md, "Image")`,
    );
  }
  return image;
}

export interface CheckedOptions {
  nodes: string[] | null;
  ttlS: number;
}

// The options checked before anything is asked of the cluster.
export function checkSessionOptions(options: ClusterSessionOptions): CheckedOptions {
  if (!isNamespaceName(options.namespace)) {
    throw usage(
      `--namespace "${safeLine(options.namespace).slice(0, 80)}" is not a namespace name`,
      'lowercase letters, digits and "-", at most 63 (e.g. --namespace natscope)',
    );
  }
  checkImage(options.image);
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

export interface ClusterSummary {
  received: number;
  lost: number;
  // events that arrived too late to be put in time order
  late: number;
}

export interface ClusterSession {
  kubectl: Kubectl;
  objects: ClusterObjects;
  names: ClusterNames;
  tracers: NodeTracer[];
  // resolves with the node whose tracing ended on its own (it should not)
  endedEarly: Promise<string>;
  // stops bpftrace everywhere, sends what is held, deletes the pods (once)
  stop(): Promise<ClusterSummary>;
}

export interface OpenSessionOptions extends ClusterSessionOptions {
  probes: ProbeFamily[];
  // each event, named and in time order across nodes
  onEvent: (event: NatscopeEvent) => void;
  log: (line: string) => void;
  // checked options, when the caller checked them already
  checked?: CheckedOptions;
  // asks a session that is still starting to stop: it undoes what it made and fails
  signal?: AbortSignal;
  // looks at the API's objects before anything is created (it may refuse: diagnose's Service)
  inspect?: (objects: ClusterObjects) => void;
}

// Reads the cluster, creates the node pods and starts bpftrace on each; resolves once every probe is attached.
export async function openClusterSession(options: OpenSessionOptions): Promise<ClusterSession> {
  const checked = options.checked ?? checkSessionOptions(options);
  const kubectl = new Kubectl({ context: options.context });
  const [nodes, pods, services, endpointSlices] = await Promise.all([
    kubectl.nodes(),
    kubectl.pods(),
    kubectl.services(),
    kubectl.endpointSlices(),
  ]);
  const objects: ClusterObjects = { nodes, pods, services, endpointSlices };
  options.inspect?.(objects);
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
  const names = ClusterNames.from(objects);
  if (options.signal?.aborted) throw stopped();
  options.log(`${selected.length} node(s) to trace; ${names.size} addresses named from the API`);

  const swept = await sweepExpired(kubectl, options.namespace);
  if (swept.length > 0)
    options.log(`deleted ${swept.length} expired natscope pod(s) a killed run left: ${swept.join(', ')}`);

  const run = await createNodePods(kubectl, {
    nodes: selected,
    namespace: options.namespace,
    image: options.image,
    ttlS: checked.ttlS,
    readyTimeoutMs: options.readyTimeoutS * 1000,
    log: options.log,
    signal: options.signal,
  });

  const merged = new TimeOrderedMerge<NatscopeEvent>((raw) => options.onEvent(names.name(raw)));
  let tracers: NodeTracer[];
  try {
    tracers = await startAll(run.pods, async (pod) => {
      const source = merged.source();
      const started = await startNodeTracer(kubectl, pod, {
        probes: options.probes,
        detail: options.detail,
        // a flush at a time: one clock read and one run in the merge per flush, not per event
        onEvents: source.push,
        // events leave the merge once every node has passed them
        onThrough: source.through,
        readyTimeoutMs: options.attachTimeoutS * 1000,
      }).catch((error: unknown) => {
        source.end();
        throw error;
      });
      // a node whose bpftrace has ended is no longer waited for
      void started.tracer.done.then(source.end, source.end);
      return started;
    });
  } catch (error) {
    merged.close();
    await run.remove();
    throw error;
  }
  const started = tracers;
  let stopping: Promise<ClusterSummary> | null = null;
  const session: ClusterSession = {
    kubectl,
    objects,
    names,
    tracers: started,
    endedEarly: Promise.race(started.map((t) => t.tracer.done.then(() => t.node))),
    stop() {
      stopping ??= (async () => {
        const summaries = await Promise.all(started.map((t) => t.tracer.stop().catch(() => null)));
        merged.close();
        await run.remove();
        return {
          received: summaries.reduce((n, s) => n + (s?.received ?? 0), 0),
          lost: summaries.reduce((n, s) => n + (s?.lost ?? 0), 0),
          late: merged.late,
        };
      })();
      return stopping;
    },
  };
  if (options.signal?.aborted) {
    await session.stop();
    throw stopped();
  }
  return session;
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

// "node1 (bpftrace 0.17.0), node2 (bpftrace 0.17.0)"
export function describeTracers(tracers: NodeTracer[]): string {
  return tracers.map((t) => `${t.node} (bpftrace ${t.bpftrace})`).join(', ');
}

export function describeClocks(tracers: NodeTracer[]): string {
  return tracers.map((t) => describeAlignment(t.node, t.clock)).join('; ');
}

// The worst of the nodes' clock readings, as a short text: "±0.9 ms", or why there is none.
export function clockUncertainty(clocks: ClockAlignment[]): string {
  const read = clocks.filter((c) => c.uncertaintyNs !== null);
  if (read.length === 0) return 'clocks not read';
  const worst = Math.max(...read.map((c) => c.uncertaintyNs ?? 0));
  return `clocks ±${(worst / 1e6).toFixed(1)} ms${read.length < clocks.length ? `, ${clocks.length - read.length} not read` : ''}`;
}

export function clockNote(clocks: ClockAlignment[]): string {
  const read = clocks.filter((c) => c.uncertaintyNs !== null);
  if (read.length === 0) return "No node's clock could be read: times across nodes are not comparable.";
  const worst = Math.max(...read.map((c) => c.uncertaintyNs ?? 0));
  return `Times across nodes agree to ±${(worst / 1e6).toFixed(1)} ms plus the nodes' wall-clock error (NTP).`;
}
