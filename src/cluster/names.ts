// Kubernetes names for the addresses in events: a Service's ClusterIP and
// port is "namespace/service", a pod's IP "namespace/pod", a node's address
// the node's name. Built from the API objects at start (kubectl.ts checked
// every name and address); applied to each event as its `names` field.

import type { NatscopeEvent, Tuple } from '../events/types.js';
import type { EndpointSlice, Node, Pod, Service } from './kubectl.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export interface ClusterObjects {
  nodes: Node[];
  pods: Pod[];
  services: Service[];
  endpointSlices: EndpointSlice[];
}

export class ClusterNames {
  // "ip:port" → Service; "ip" → pod, node, or a Service's IP on any port
  private readonly byKey = new Map<string, string>();

  static from(objects: ClusterObjects): ClusterNames {
    const names = new ClusterNames();
    for (const node of objects.nodes) {
      for (const a of node.status.addresses) {
        if (a.type === 'InternalIP' || a.type === 'ExternalIP') names.add(a.address, node.metadata.name);
      }
    }
    // a pod on the host's network has its node's address: the node's name says more
    for (const pod of objects.pods) {
      if (pod.spec.hostNetwork) continue;
      const ips = [pod.status.podIP, ...(pod.status.podIPs ?? []).map((p) => p.ip)];
      for (const ip of ips) if (ip) names.add(ip, `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`);
    }
    for (const slice of objects.endpointSlices) {
      for (const e of slice.endpoints ?? []) {
        if (e.targetRef?.kind !== 'Pod') continue;
        const ns = e.targetRef.namespace ?? slice.metadata.namespace ?? 'default';
        for (const ip of e.addresses) names.add(ip, `${ns}/${e.targetRef.name}`);
      }
    }
    for (const svc of objects.services) {
      const name = `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name}`;
      const ips = [svc.spec.clusterIP, ...(svc.spec.clusterIPs ?? [])];
      for (const ip of ips) {
        if (!ip || ip === 'None') continue;
        names.add(ip, name);
        for (const p of svc.spec.ports) names.add(`${ip}:${p.port}`, name);
      }
    }
    return names;
  }

  get size(): number {
    return this.byKey.size;
  }

  // first one wins: a node's address is not renamed by a host-network pod's
  private add(key: string, name: string): void {
    const ip = key.split(':')[0] ?? '';
    if (IPV4.test(ip) && !this.byKey.has(key)) this.byKey.set(key, name);
  }

  // The name of an address (and port): a Service's port first, then the address alone.
  nameOf(ip: string, port?: number): string | undefined {
    return (port === undefined ? undefined : this.byKey.get(`${ip}:${port}`)) ?? this.byKey.get(ip);
  }

  // What the event's addresses are, keyed as the `names` field keys them; undefined if none is known.
  namesFor(event: NatscopeEvent): Record<string, string> | undefined {
    const found: Record<string, string> = {};
    let any = false;
    const look = (ip: string, port: number) => {
      const service = this.byKey.get(`${ip}:${port}`);
      if (service) {
        found[`${ip}:${port}`] = service;
        any = true;
        return;
      }
      const name = this.byKey.get(ip);
      if (name) {
        found[ip] = name;
        any = true;
      }
    };
    const tuple = (t: Tuple) => {
      look(t.src, t.sport);
      look(t.dst, t.dport);
    };
    switch (event.kind) {
      case 'nat':
        tuple(event.orig);
        tuple(event.reply);
        look(event.to.ip, event.to.port);
        break;
      case 'ct-new':
      case 'ct-destroy':
        tuple(event.orig);
        tuple(event.reply);
        break;
      case 'drop':
        look(event.packet.src, event.packet.sport);
        look(event.packet.dst, event.packet.dport);
        break;
      case 'rewrite':
        tuple(event.before);
        tuple(event.after);
        break;
      default:
        return undefined;
    }
    return any ? found : undefined;
  }

  // The event with its names (the same event when none is known).
  name(event: NatscopeEvent): NatscopeEvent {
    const names = this.namesFor(event);
    return names ? { ...event, names } : event;
  }
}

// The names an event carries, as a line's suffix: "  [10.96.207.61:3306 default/mysql, 10.244.2.2 default/mysql-0]".
export function namesSuffix(event: NatscopeEvent): string {
  if (!event.names) return '';
  const entries = Object.entries(event.names);
  return entries.length ? `  [${entries.map(([k, v]) => `${k} ${v}`).join(', ')}]` : '';
}
