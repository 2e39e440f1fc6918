// natscope cluster diagnose svc/NAME: traces the nodes (session.ts), then
// either sends one request to the Service's ClusterIP and port from an
// ephemeral pod (clientPod.ts) or waits for a given client's traffic
// (--from-ip, --from-pod), stops, and tells the connection's story with a
// verdict (diagnose.ts): answered, the reply bypassing the node that holds
// the DNAT (the incident), or dropped where; and what was not seen.

import { DEFAULT_CLIENT_IMAGE, requestFromPod, type ClientResult } from '../cluster/clientPod.js';
import {
  clusterAddressTest,
  type Diagnosis,
  diagnose,
  type ServiceEndpoint,
  type ServiceTarget,
} from '../cluster/diagnose.js';
import { isNamespaceName, isObjectName } from '../cluster/kubectl.js';
import type { ClusterObjects } from '../cluster/names.js';
import {
  type ClusterSessionOptions,
  checkImage,
  checkSessionOptions,
  describeClocks,
  describeTracers,
  openClusterSession,
  usage,
} from '../cluster/session.js';
import { NatscopeError } from '../errors.js';
import { isKernelEvent, type NatscopeEvent } from '../events/types.js';
import { parseProbeList } from '../tracer/probes.js';
import { progress } from '../util/progress.js';
import { safeLine } from '../util/terminal.js';

export interface ClusterDiagnoseOptions extends ClusterSessionOptions {
  target: string;
  // the Service's namespace
  serviceNamespace: string;
  port?: number;
  fromPod?: string;
  fromIp?: string;
  clientImage: string;
  probes: string;
  // how long to wait for a watched client's traffic
  waitS: number;
  json: boolean;
}

export { DEFAULT_CLIENT_IMAGE };

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// events kept for the verdict, at most (a busy node makes many)
const MAX_EVENTS = 200_000;
// after the request: time for the nodes' last flush and the merge window, and for retransmissions to be dropped again
const SETTLE_MS = 1500;

function serviceName(target: string): string {
  const m = /^(?:svc|service|services)\/(.+)$/.exec(target);
  const name = m?.[1] ?? '';
  if (!isObjectName(name)) {
    throw usage(
      `"${safeLine(target).slice(0, 80)}" is not a Service (svc/NAME)`,
      'name the Service as kubectl does: natscope cluster diagnose svc/mysql -n default',
    );
  }
  return name;
}

interface Resolved {
  service: ServiceTarget;
  endpoints: ServiceEndpoint[];
  clientIp: string | null;
}

// The Service, its endpoints and the watched client, from the API's objects; refused here if any is missing.
export function resolveTarget(objects: ClusterObjects, options: ClusterDiagnoseOptions): Resolved {
  const name = serviceName(options.target);
  const ns = options.serviceNamespace;
  const svc = objects.services.find((s) => s.metadata.name === name && (s.metadata.namespace ?? 'default') === ns);
  if (!svc) {
    const here = objects.services.filter((s) => (s.metadata.namespace ?? 'default') === ns).map((s) => s.metadata.name);
    throw usage(
      `the cluster has no Service ${ns}/${name}`,
      `its Services in ${ns}: ${here.slice(0, 10).join(', ') || 'none'} (kubectl get svc -n ${ns}; another namespace: -n NS)`,
    );
  }
  const ip = svc.spec.clusterIP;
  if (!ip || ip === 'None' || !IPV4.test(ip)) {
    throw usage(
      `Service ${ns}/${name} has no IPv4 ClusterIP (${safeLine(ip ?? 'none')})`,
      'natscope diagnoses ClusterIP Services (a headless Service is reached at its pods: trace them with natscope cluster trace)',
    );
  }
  const ports = svc.spec.ports.filter((p) => p.protocol === 'TCP');
  const port = options.port === undefined ? ports[0]?.port : ports.find((p) => p.port === options.port)?.port;
  if (port === undefined) {
    throw usage(
      `Service ${ns}/${name} has no TCP port${options.port === undefined ? '' : ` ${options.port}`}`,
      `its TCP ports: ${ports.map((p) => p.port).join(', ') || 'none'}${ports.length ? ' (--port N)' : ''}`,
    );
  }
  const endpoints: ServiceEndpoint[] = [];
  for (const slice of objects.endpointSlices) {
    if (slice.metadata.labels?.['kubernetes.io/service-name'] !== name) continue;
    if ((slice.metadata.namespace ?? 'default') !== ns || slice.addressType !== 'IPv4') continue;
    for (const e of slice.endpoints ?? []) {
      for (const a of e.addresses) {
        if (!IPV4.test(a)) continue;
        const pod = e.targetRef?.kind === 'Pod' ? `${e.targetRef.namespace ?? ns}/${e.targetRef.name}` : null;
        endpoints.push({ ip: a, node: e.nodeName ?? null, pod });
      }
    }
  }
  let clientIp: string | null = options.fromIp ?? null;
  if (options.fromPod !== undefined) {
    const pod = objects.pods.find(
      (p) => p.metadata.name === options.fromPod && (p.metadata.namespace ?? 'default') === ns,
    );
    const podIp = pod?.status.podIP;
    if (!pod || !podIp || !IPV4.test(podIp)) {
      throw usage(
        `the cluster has no pod ${ns}/${safeLine(options.fromPod)} with an IPv4 address`,
        `name a running pod of namespace ${ns} (kubectl get pods -n ${ns} -o wide)`,
      );
    }
    clientIp = podIp;
  }
  return { service: { namespace: ns, name, ip, port }, endpoints, clientIp };
}

function checkOptions(options: ClusterDiagnoseOptions): void {
  serviceName(options.target);
  if (!isNamespaceName(options.serviceNamespace)) {
    throw usage(
      `-n "${safeLine(options.serviceNamespace).slice(0, 80)}" is not a namespace name`,
      "the Service's namespace, as kubectl get svc -A lists it: -n default",
    );
  }
  if (options.fromIp !== undefined && options.fromPod !== undefined) {
    throw usage('--from-ip and --from-pod name the same client twice', 'give one of them');
  }
  if (options.fromIp !== undefined && !IPV4.test(options.fromIp)) {
    throw usage(
      `--from-ip "${safeLine(options.fromIp).slice(0, 40)}" is not an IPv4 address`,
      'the client address the nodes see, e.g. --from-ip 192.168.10.10',
    );
  }
  if (options.fromPod !== undefined && !isObjectName(options.fromPod)) {
    throw usage(
      `--from-pod "${safeLine(options.fromPod).slice(0, 80)}" is not a pod name`,
      "a pod of the Service's namespace (-n), as kubectl get pods lists it",
    );
  }
  checkImage(options.clientImage, '--client-image');
}

export async function clusterDiagnose(options: ClusterDiagnoseOptions): Promise<number> {
  const probes = parseProbeList(options.probes);
  checkOptions(options);
  const checked = checkSessionOptions(options);
  const step = progress('diagnose');
  const resolved: { target: Resolved | null; objects: ClusterObjects | null } = { target: null, objects: null };
  const events: NatscopeEvent[] = [];
  let seenClient: (() => void) | null = null;
  const session = await openClusterSession({
    ...options,
    checked,
    probes,
    log: step.log,
    inspect: (objects) => {
      resolved.target = resolveTarget(objects, options);
      resolved.objects = objects;
    },
    onEvent: (event) => {
      if (events.length < MAX_EVENTS) events.push(event);
      seenClient?.();
    },
  });
  const target: Resolved = resolved.target ?? unreachable();
  const addr = `${target.service.ip}:${target.service.port}`;
  step.log(`tracing ${probes.join(',')} on ${describeTracers(session.tracers)}`);
  step.log(`clocks, onto this machine's: ${describeClocks(session.tracers)}`);

  let client: ClientResult | null = null;
  let failure: unknown = null;
  try {
    if (target.clientIp === null) {
      step.log(
        `one request to ${target.service.namespace}/${target.service.name} (${addr}) from a pod (${safeLine(options.clientImage)})`,
      );
      client = await requestFromPod(session.kubectl, {
        namespace: options.namespace,
        image: options.clientImage,
        ip: target.service.ip,
        port: target.service.port,
      });
      step.log(`the request pod was ${client.answered ? 'answered' : 'not answered'}`);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    } else {
      step.log(`waiting up to ${options.waitS} s for ${target.clientIp}'s traffic to ${addr}`);
      const clientIp = target.clientIp;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.waitS * 1000);
        seenClient = () => {
          const last = events[events.length - 1];
          if (!last || !involves(last, clientIp)) return;
          seenClient = null;
          clearTimeout(timer);
          // the rest of the connection: its reply, retransmissions, drops
          setTimeout(resolve, 3000 + SETTLE_MS);
        };
      });
    }
  } catch (error) {
    failure = error;
  }
  const summary = await session.stop();
  if (failure) throw failure;
  const diagnosis = diagnose({
    service: target.service,
    endpoints: target.endpoints,
    clientIp: target.clientIp,
    answered: client?.answered ?? null,
    // with a request: what happened once it was sent (the nodes' clocks agree to milliseconds)
    events: client ? events.filter((e) => !isKernelEvent(e) || e.t >= client.startNs - 100e6) : events,
    inCluster: clusterAddressTest(resolved.objects ?? unreachable(), client?.addresses ?? []),
    nodes: session.tracers.map((t) => t.node),
    probes,
  });
  step.done(
    `${summary.received} events from ${session.tracers.length} node(s), ${summary.lost} lost; node pods deleted`,
  );
  if (options.json) process.stdout.write(`${JSON.stringify(diagnosis)}\n`);
  else process.stdout.write(render(diagnosis));
  return diagnosis.verdict === 'answered' ? 0 : 1;
}

function involves(e: NatscopeEvent, ip: string): boolean {
  if (e.kind === 'nat' || e.kind === 'ct-new' || e.kind === 'ct-destroy') return e.orig.src === ip;
  if (e.kind === 'drop') return e.packet.src === ip || e.packet.dst === ip;
  return false;
}

function unreachable(): never {
  throw new NatscopeError('the Service was not resolved before the node pods were created');
}

export function render(d: Diagnosis): string {
  const lines = [
    `${d.service} (${d.target})${d.client ? ` from ${d.client}` : ''}`,
    ...d.story.map((s) => `  ${s}`),
    `verdict: ${d.verdict}: ${d.summary}`,
  ];
  if (d.seen.length) lines.push(`seen: ${d.seen.join('; ')}`);
  if (d.notSeen.length) lines.push(`not seen: ${d.notSeen.join('; ')}`);
  return `${lines.map((l) => safeLine(l)).join('\n')}\n`;
}
