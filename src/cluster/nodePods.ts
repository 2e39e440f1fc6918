// The node side of cluster mode: one short-lived privileged pod per traced
// node, pinned to it, in which bpftrace runs (through kubectl exec; see
// transport.ts). Each pod is labelled as natscope's, with the run's owner
// id, and carries an expiry time: it ends itself then (activeDeadlineSeconds
// and a `sleep` of the same length), and the next run deletes any whose time
// has passed (a run killed with -9 cannot delete its own). Otherwise every
// pod a run created is deleted when it ends, on every way out.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NatscopeError } from '../errors.js';
import { type CleanupHandle, onCleanup } from '../util/cleanup.js';
import { safeLine } from '../util/terminal.js';
import type { Kubectl, Pod } from './kubectl.js';

// bpftrace 0.17.0 (the iovisor project's image of that release): the oldest
// bpftrace natscope supports and one its tests run (docs/cluster.md, "Image").
export const DEFAULT_IMAGE = 'quay.io/iovisor/bpftrace:v0.17.0';
export const DEFAULT_NAMESPACE = 'default';
export const CONTAINER = 'bpftrace';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const OWNER_LABEL = 'natscope.io/owner';
export const EXPIRES_ANNOTATION = 'natscope.io/expires';
export const NODE_ANNOTATION = 'natscope.io/node';

export interface NodePod {
  node: string;
  name: string;
  namespace: string;
}

export interface NodePodsOptions {
  nodes: string[];
  namespace: string;
  image: string;
  // how long the pods may live at most (they end themselves then)
  ttlS: number;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  // for the tests: the clock the expiry is written with
  now?: () => Date;
  // stops the wait for the pods (they are deleted, and createNodePods fails)
  signal?: AbortSignal;
}

// kubectl's arguments to run `command` in a node pod's container (stdin passed on with `stdin`).
export function execArgs(pod: NodePod, command: string[], stdin = false): string[] {
  return ['exec', ...(stdin ? ['-i'] : []), '-n', pod.namespace, pod.name, '-c', CONTAINER, '--', ...command];
}

// A run's id: in every pod's name and owner label.
export function newOwnerId(): string {
  return randomBytes(5).toString('hex');
}

// A pod that lets bpftrace see its node's kernel: the host's network and
// process namespaces, privileged (BPF programs, perf events, tracefs), and
// the host's tracefs, BTF and modules read-only.
export function nodePodManifest(options: {
  name: string;
  node: string;
  namespace: string;
  image: string;
  owner: string;
  ttlS: number;
  expires: Date;
}): object {
  const hostDir = (name: string, path: string) => ({ name, hostPath: { path } });
  const mount = (name: string, path: string) => ({ name, mountPath: path, readOnly: true });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name,
      namespace: options.namespace,
      labels: { [MANAGED_BY]: 'natscope', [OWNER_LABEL]: options.owner },
      annotations: { [EXPIRES_ANNOTATION]: options.expires.toISOString(), [NODE_ANNOTATION]: options.node },
    },
    spec: {
      nodeName: options.node,
      hostNetwork: true,
      hostPID: true,
      restartPolicy: 'Never',
      // the pod needs no API access: kubectl exec comes from outside
      automountServiceAccountToken: false,
      // kubelet ends the pod at its expiry even if natscope never returns
      activeDeadlineSeconds: options.ttlS,
      terminationGracePeriodSeconds: 2,
      // nodeName skips the scheduler; these keep a control-plane node's taints from evicting it
      tolerations: [
        { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' },
        { key: 'node-role.kubernetes.io/master', operator: 'Exists' },
      ],
      containers: [
        {
          name: CONTAINER,
          image: options.image,
          command: ['sleep', String(options.ttlS)],
          securityContext: { privileged: true },
          volumeMounts: [
            mount('debugfs', '/sys/kernel/debug'),
            mount('tracefs', '/sys/kernel/tracing'),
            mount('btf', '/sys/kernel/btf'),
            mount('modules', '/lib/modules'),
          ],
        },
      ],
      volumes: [
        hostDir('debugfs', '/sys/kernel/debug'),
        hostDir('tracefs', '/sys/kernel/tracing'),
        hostDir('btf', '/sys/kernel/btf'),
        hostDir('modules', '/lib/modules'),
      ],
    },
  };
}

export interface NodePods {
  owner: string;
  pods: NodePod[];
  // deletes every pod of this run (once; later calls wait for the first)
  remove(): Promise<void>;
}

// Deletes natscope's pods in the namespace whose expiry has passed (left by
// a run that was killed): by label, then by the annotation's time.
export async function sweepExpired(kubectl: Kubectl, namespace: string, now: Date = new Date()): Promise<string[]> {
  const pods = await kubectl.pods(namespace, `${MANAGED_BY}=natscope`);
  const expired = pods
    .filter((p) => {
      const expires = Date.parse(p.metadata.annotations?.[EXPIRES_ANNOTATION] ?? '');
      // a pod labelled as natscope's without a readable expiry is left alone: not provably ours to end
      return Number.isFinite(expires) && expires <= now.getTime();
    })
    .map((p) => p.metadata.name);
  if (expired.length > 0) {
    await kubectl.run(['delete', 'pods', '-n', namespace, '--ignore-not-found', '--wait=false', ...expired], {
      what: 'kubectl delete (expired natscope pods)',
    });
  }
  return expired;
}

// Creates a pod on each node, waits until every one is ready, and deletes
// them all on every way out (the returned remove(), or natscope's cleanups).
export async function createNodePods(kubectl: Kubectl, options: NodePodsOptions): Promise<NodePods> {
  const log = options.log ?? (() => undefined);
  const owner = newOwnerId();
  const now = options.now?.() ?? new Date();
  const expires = new Date(now.getTime() + options.ttlS * 1000);
  const pods: NodePod[] = options.nodes.map((node, i) => ({
    node,
    name: `natscope-${owner}-${i}`,
    namespace: options.namespace,
  }));
  const selector = `${OWNER_LABEL}=${owner}`;
  const deleteArgs = ['delete', 'pods', '-n', options.namespace, '-l', selector, '--ignore-not-found', '--wait=false'];
  const cleanup: CleanupHandle = onCleanup(
    'delete natscope node pods',
    async () => {
      await kubectl.run(deleteArgs, { what: 'kubectl delete (natscope node pods)', timeoutMs: 30_000 });
    },
    // the last resort when natscope is made to exit at once: the delete is
    // started, detached, and left to finish on its own
    () => {
      spawn(kubectl.binary, kubectl.argv(deleteArgs), { detached: true, stdio: 'ignore' }).unref();
    },
  );
  try {
    const manifest = {
      apiVersion: 'v1',
      kind: 'List',
      items: pods.map((p) =>
        nodePodManifest({ ...p, image: options.image, owner, ttlS: Math.ceil(options.ttlS), expires }),
      ),
    };
    log(`creating ${pods.length} node pod(s) in namespace ${options.namespace} (image ${safeLine(options.image)})`);
    await kubectl.run(['apply', '-f', '-'], { input: JSON.stringify(manifest), what: 'kubectl apply (node pods)' });
    await waitReady(kubectl, pods, selector, options.readyTimeoutMs ?? 120_000, log, options.signal);
  } catch (error) {
    await cleanup.run();
    throw error;
  }
  return { owner, pods, remove: () => cleanup.run() };
}

// What a session asked to stop while it started fails with.
export function stopped(): NatscopeError {
  return new NatscopeError('stopped while the node pods started', { exitCode: 130 });
}

// Why a pod is not ready yet, as kubectl's STATUS column would say it.
function notReadyBecause(pod: Pod | undefined): string {
  if (!pod) return 'not created';
  const waiting = pod.status.containerStatuses
    ?.map((c) => Object.values(c.state ?? {})[0]?.reason)
    .find((r) => r !== undefined);
  return safeLine(waiting ?? pod.status.phase ?? 'Pending');
}

function isReady(pod: Pod | undefined): boolean {
  return pod?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function waitReady(
  kubectl: Kubectl,
  pods: NodePod[],
  selector: string,
  timeoutMs: number,
  log: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  let said = '';
  for (;;) {
    if (signal?.aborted) throw stopped();
    const seen = new Map((await kubectl.pods(pods[0]?.namespace, selector)).map((p) => [p.metadata.name, p]));
    const waiting = pods.filter((p) => !isReady(seen.get(p.name)));
    if (waiting.length === 0) return;
    const failed = waiting.find((p) => seen.get(p.name)?.status.phase === 'Failed');
    const status = waiting.map((p) => `${p.name} on ${p.node}: ${notReadyBecause(seen.get(p.name))}`).join(', ');
    if (status !== said) log(`${pods.length - waiting.length}/${pods.length} node pods ready (waiting: ${status})`);
    said = status;
    if (failed || performance.now() >= end) {
      const pod = failed ?? waiting[0]!;
      const why = notReadyBecause(seen.get(pod.name));
      throw new NatscopeError(
        `node pod ${pod.namespace}/${pod.name} on node ${pod.node} ${failed ? 'failed' : `was not ready after ${Math.round(timeoutMs / 1000)} s`} (${why})`,
        {
          hint: /Image|ErrImage/.test(why)
            ? `the node cannot pull the image: see kubectl -n ${pod.namespace} describe pod ${pod.name}, or pass --image with one your nodes can pull`
            : `see kubectl -n ${pod.namespace} describe pod ${pod.name} (privileged pods must be allowed in the namespace: docs/cluster.md)`,
        },
      );
    }
    await sleep(1000);
  }
}
