// A cluster for the cluster mode's tests: the fake kubectl
// (test/fixtures/bin/fake-kubectl) on PATH, in a temporary folder of the
// test's, serving API objects made from a lab's own status in the JSON
// kubectl prints (apiVersion, kind, metadata, spec, status as the API
// server writes them; only what a lab knows is filled in). `exec` runs the
// command here: with `bpftrace` on the same PATH, the fake or the real one.

import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { LabStatus } from '../../src/events/types.js';
import { FIXTURES, recordedEvents } from '../helpers.js';

export interface FakeCluster {
  dir: string;
  bin: string;
  // the environment a kubectl (and natscope) started by the test runs with
  env: Record<string, string>;
  // "create ns/name" and "delete ns/name", in order
  ledger(): string[];
  // every kubectl command line
  calls(): string[][];
  // the pods created and not deleted, as the fake keeps them
  livePods(): { metadata: { name: string; namespace: string; labels: Record<string, string> } }[];
}

// The lab status the incident recording was made with (its status event).
export function recordedLabStatus(): LabStatus {
  for (const e of recordedEvents()) if (e.kind === 'status' && e.lab) return e.lab;
  throw new Error('the recording has no lab status');
}

const uid = (i: number) => `0d6c3f1e-4b7a-4f3e-9c1d-${String(i).padStart(12, '0')}`;
const created = '2026-12-05T09:00:00Z';

// The nodes, pods, Services and EndpointSlices of a lab, as `kubectl get … -o json` lists their items.
export function labObjects(lab: LabStatus, nodes = ['node1', 'node2']): Record<string, object[]> {
  let n = 0;
  const meta = (name: string, namespace?: string, labels: Record<string, string> = {}) => ({
    name,
    ...(namespace ? { namespace } : {}),
    uid: uid(n++),
    resourceVersion: String(1000 + n),
    creationTimestamp: created,
    labels,
  });
  const podByIp = new Map(lab.pods.map((p) => [p.ip, p]));
  return {
    nodes: nodes.map((name) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: meta(name, undefined, { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' }),
      spec: { podCIDR: `10.244.${name.replace(/\D/g, '')}.0/24` },
      status: {
        addresses: [
          { type: 'InternalIP', address: lab.hosts[name]?.ip ?? '' },
          { type: 'Hostname', address: name },
        ],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }],
      },
    })),
    pods: lab.pods.map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: meta(p.name, p.namespace, { app: p.name }),
      spec: {
        nodeName: p.node,
        containers: [{ name: p.name, image: `${p.name}:latest`, ports: [{ containerPort: p.port, protocol: 'TCP' }] }],
      },
      status: {
        phase: 'Running',
        hostIP: lab.hosts[p.node]?.ip,
        podIP: p.ip,
        podIPs: [{ ip: p.ip }],
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    })),
    services: lab.services.map((s) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(s.name, s.namespace),
      spec: {
        type: 'ClusterIP',
        clusterIP: s.clusterIP,
        clusterIPs: [s.clusterIP],
        ipFamilies: ['IPv4'],
        ports: [{ name: s.portName, port: s.port, protocol: s.protocol, targetPort: s.endpoints[0]?.port ?? s.port }],
        selector: { app: s.name },
      },
      status: { loadBalancer: {} },
    })),
    endpointslices: lab.services.map((s) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: meta(`${s.name}-abcde`, s.namespace, {
        'kubernetes.io/service-name': s.name,
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      }),
      addressType: 'IPv4',
      endpoints: s.endpoints.map((e) => ({
        addresses: [e.ip],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: e.node,
        ...(podByIp.get(e.ip)
          ? { targetRef: { kind: 'Pod', name: podByIp.get(e.ip)!.name, namespace: s.namespace, uid: uid(n++) } }
          : {}),
      })),
      ports: [{ name: s.portName, port: s.endpoints[0]?.port ?? s.port, protocol: s.protocol }],
    })),
  };
}

// The fake cluster in `dir`: objects.json written, kubectl (and `bpftrace`, if given) on PATH.
export function fakeCluster(dir: string, objects: Record<string, object[]>, bpftrace?: string): FakeCluster {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  if (!existsSync(join(bin, 'kubectl'))) symlinkSync(join(FIXTURES, 'bin', 'fake-kubectl'), join(bin, 'kubectl'));
  if (bpftrace && !existsSync(join(bin, 'bpftrace'))) symlinkSync(bpftrace, join(bin, 'bpftrace'));
  writeFileSync(join(dir, 'objects.json'), JSON.stringify(objects, null, 1));
  const lines = (name: string) =>
    existsSync(join(dir, name))
      ? readFileSync(join(dir, name), 'utf8')
          .split('\n')
          .filter((l) => l)
      : [];
  return {
    dir,
    bin,
    env: { FAKE_KUBECTL_DIR: dir, PATH: `${bin}:${process.env.PATH}` },
    ledger: () => lines('ledger.log'),
    calls: () => lines('calls.log').map((l) => z.array(z.string()).parse(JSON.parse(l))),
    livePods: () =>
      existsSync(join(dir, 'pods.json')) ? JSON.parse(readFileSync(join(dir, 'pods.json'), 'utf8')) : [],
  };
}
