// kubectl, the one way natscope talks to a cluster: run with argument
// arrays (nothing from the user or the cluster is ever parsed by a shell),
// against the context the user names (or kubectl's current one), and the
// API objects natscope reads (nodes, pods, Services, EndpointSlices) read
// as JSON and checked against schemas of just the fields it uses. Every
// string that comes back is the cluster's: checked here, and made safe for
// a terminal where it is printed.

import { execa, type ResultPromise } from 'execa';
import { z } from 'zod';
import { NatscopeError } from '../errors.js';
import { fieldPath } from '../util/json.js';
import { safeLine } from '../util/terminal.js';

// A DNS-1123 subdomain (object names, node names) and label (namespaces), as the API server enforces them.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const objectName = z.string().regex(SUBDOMAIN, { error: 'not a Kubernetes object name' });
export const namespaceName = z.string().regex(LABEL, { error: 'not a Kubernetes namespace name' });

export function isObjectName(text: string): boolean {
  return SUBDOMAIN.test(text);
}

export function isNamespaceName(text: string): boolean {
  return LABEL.test(text);
}

// An address as the API writes it: IPv4 or IPv6, or "None" for a headless Service's clusterIP.
const address = z.string().regex(/^([0-9.]{7,15}|[0-9a-fA-F:.]{2,45}|None)$/, { error: 'not an IP address' });
const portNumber = z.number().int().min(1).max(65535);
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

const metadata = z.object({
  name: objectName,
  namespace: namespaceName.optional(),
  uid: z.string().optional(),
  // set once the object is being deleted
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const conditions = z.array(z.object({ type: z.string(), status: z.string() })).optional();

export const NodeSchema = z.object({
  metadata,
  spec: z.object({ podCIDR: z.string().optional() }).default({}),
  status: z
    .object({
      addresses: z.array(z.object({ type: z.string(), address: z.string() })).default([]),
      conditions,
    })
    .default({ addresses: [] }),
});
export type Node = z.infer<typeof NodeSchema>;

export const PodSchema = z.object({
  metadata,
  spec: z.object({ nodeName: objectName.optional(), hostNetwork: z.boolean().optional() }),
  status: z
    .object({
      phase: z.string().optional(),
      // "" or absent: no address assigned yet
      podIP: address.or(z.literal('')).optional(),
      podIPs: z.array(z.object({ ip: address })).optional(),
      conditions,
      containerStatuses: z
        .array(
          z.object({
            name: z.string(),
            ready: z.boolean(),
            state: z.record(z.string(), z.object({ reason: z.string().optional() }).loose()).optional(),
          }),
        )
        .optional(),
    })
    .default({}),
});
export type Pod = z.infer<typeof PodSchema>;

export const ServiceSchema = z.object({
  metadata,
  spec: z.object({
    clusterIP: address.optional(),
    clusterIPs: z.array(address).optional(),
    ports: z
      .array(z.object({ name: z.string().optional(), port: portNumber, protocol: protocol.default('TCP') }))
      .default([]),
  }),
});
export type Service = z.infer<typeof ServiceSchema>;

export const EndpointSliceSchema = z.object({
  metadata,
  addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
  endpoints: z
    .array(
      z.object({
        addresses: z.array(z.string()),
        nodeName: objectName.optional(),
        targetRef: z.object({ kind: z.string(), name: objectName, namespace: namespaceName.optional() }).optional(),
      }),
    )
    .nullable()
    .default([]),
  ports: z
    .array(z.object({ name: z.string().optional(), port: portNumber.optional(), protocol: protocol.optional() }))
    .nullable()
    .default([]),
});
export type EndpointSlice = z.infer<typeof EndpointSliceSchema>;

// The kinds natscope reads, as `kubectl get KIND` names them.
export type Resource = 'nodes' | 'pods' | 'services' | 'endpointslices';

// kubectl's --context: a kubeconfig context name, any printable text (no
// control characters), passed as one `--context=NAME` argument so that a
// name beginning with "-" is never read as an option.
export function checkContext(name: string): string {
  if (name.length === 0 || name.length > 253 || safeLine(name) !== name) {
    throw new NatscopeError(`--context "${safeLine(name).slice(0, 80)}" is not a kubeconfig context name`, {
      hint: 'list the contexts with "kubectl config get-contexts" and pass one of their names',
      exitCode: 2,
    });
  }
  return name;
}

export interface KubectlOptions {
  context?: string;
  // the kubectl binary (NATSCOPE_KUBECTL overrides; tests put a fake on PATH)
  binary?: string;
}

export class Kubectl {
  readonly binary: string;
  private readonly global: string[];

  constructor(readonly options: KubectlOptions = {}) {
    this.binary = options.binary ?? process.env.NATSCOPE_KUBECTL ?? 'kubectl';
    this.global = options.context === undefined ? [] : [`--context=${checkContext(options.context)}`];
  }

  // kubectl's arguments with the context first
  argv(args: string[]): string[] {
    return [...this.global, ...args];
  }

  // Runs kubectl to its end; a failure is one line naming what was asked and what kubectl said.
  async run(args: string[], options: { input?: string; timeoutMs?: number; what?: string } = {}): Promise<string> {
    const result = await execa(this.binary, this.argv(args), {
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
      ...(options.input === undefined ? { stdin: 'ignore' as const } : { input: options.input }),
      maxBuffer: 256 * 1024 * 1024,
    });
    if ('code' in result && result.code === 'ENOENT') {
      throw new NatscopeError(`kubectl not found (${this.binary})`, {
        hint: 'install kubectl (https://kubernetes.io/docs/tasks/tools/) or point NATSCOPE_KUBECTL at it',
      });
    }
    if (result.exitCode !== 0) throw this.failure(options.what ?? `kubectl ${args[0] ?? ''}`, result);
    return String(result.stdout);
  }

  // Runs kubectl to its end and hands back its output as bytes (a file read from a node).
  async read(args: string[], what: string): Promise<Buffer> {
    const result = await execa(this.binary, this.argv(args), {
      reject: false,
      timeout: 60_000,
      stdin: 'ignore',
      encoding: 'buffer',
      maxBuffer: 256 * 1024 * 1024,
    });
    if (result.exitCode !== 0) throw this.failure(what, { ...result, stderr: Buffer.from(result.stderr).toString() });
    return Buffer.from(result.stdout);
  }

  // Starts kubectl and hands back the running process (kubectl exec of a tracer).
  spawn(args: string[]): ResultPromise<{ detached: true; reject: false; buffer: false; stdin: 'pipe' }> {
    return execa(this.binary, this.argv(args), { detached: true, reject: false, buffer: false, stdin: 'pipe' });
  }

  // The objects of each kind natscope reads, in every namespace (or one), as checked records.
  nodes(): Promise<Node[]> {
    return this.list('nodes', NodeSchema);
  }

  pods(namespace?: string, selector?: string): Promise<Pod[]> {
    return this.list('pods', PodSchema, namespace ?? null, selector);
  }

  services(): Promise<Service[]> {
    return this.list('services', ServiceSchema, null);
  }

  endpointSlices(): Promise<EndpointSlice[]> {
    return this.list('endpointslices', EndpointSliceSchema, null);
  }

  // `namespace`: undefined for a cluster-wide kind, null for every namespace
  private async list<T extends z.ZodType>(
    resource: Resource,
    item: T,
    namespace?: string | null,
    selector?: string,
  ): Promise<z.output<T>[]> {
    const scope = namespace === undefined ? [] : namespace === null ? ['-A'] : ['-n', namespace];
    const select = selector ? ['-l', selector] : [];
    const text = await this.run(['get', resource, ...scope, ...select, '-o', 'json'], {
      what: `kubectl get ${resource}`,
    });
    return parseList(resource, item, text);
  }

  private failure(
    what: string,
    result: { exitCode?: number; signal?: string; stderr?: unknown; timedOut?: boolean },
  ): NatscopeError {
    const said = safeLine(
      String(result.stderr ?? '')
        .trim()
        .split('\n')
        .pop() ?? '',
    ).slice(0, 200);
    if (result.timedOut) {
      return new NatscopeError(`${what} did not answer in time`, {
        hint: 'check the cluster is reachable: kubectl cluster-info',
      });
    }
    const context = this.options.context ? ` --context ${safeLine(this.options.context)}` : '';
    if (/forbidden/i.test(said)) {
      return new NatscopeError(`${what} was refused: ${said}`, {
        hint: `natscope needs the permissions in deploy/cluster/rbac.yaml: kubectl${context} apply -f deploy/cluster/rbac.yaml and bind it (docs/cluster.md)`,
      });
    }
    return new NatscopeError(`${what} failed: ${said || `exit code ${result.exitCode ?? result.signal}`}`, {
      hint: `check that kubectl${context} get nodes works`,
    });
  }
}

// A kubectl JSON list, read strictly: what does not fit is named by its path.
export function parseList<T extends z.ZodType>(resource: Resource, item: T, text: string): z.output<T>[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new NatscopeError(`kubectl get ${resource} did not print JSON`, {
      hint: 'check that kubectl works on its own: kubectl get nodes -o json',
    });
  }
  const parsed = z.object({ items: z.array(item) }).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? fieldPath(issue.path) : '';
    throw new NatscopeError(
      `kubectl get ${resource} returned an object natscope does not accept (${safeLine(where)}: ${safeLine(issue?.message ?? 'invalid')})`,
      { hint: 'natscope reads the core/v1 and discovery.k8s.io/v1 shapes: check the cluster and kubectl versions' },
    );
  }
  return parsed.data.items;
}
