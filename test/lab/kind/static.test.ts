// The kind lab's files checked without running them: CI cannot run kind or
// Vagrant, so what can be checked statically is (docs/kind-lab.md, "What CI
// runs and what it does not").

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { YAML } from 'zx';
import { z } from 'zod';
import { PODS, SERVICES } from '../../../src/lab/netns/topology.js';
import { NODE_ROLE_LABEL, POD_SUBNET, SERVICE_SUBNET } from '../../../src/lab/kind/names.js';
import { WORKLOADS_IMAGE_PLACEHOLDER } from '../../../src/lab/kind/up.js';
import { kindConfig } from '../../../src/lab/kind/cluster.js';
import { KIND_VERSION, KUBERNETES_MINOR, NODE_IMAGE, NODE_MAJOR } from '../../../src/lab/kind/versions.js';
import { ROOT } from '../../helpers.js';

const MANIFESTS = join(ROOT, 'src', 'lab', 'kind', 'manifests');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

// Field names of kind.x-k8s.io/v1alpha4 (kind's pkg/apis/config/v1alpha4/types.go); kind rejects unknown ones.
const KIND_CLUSTER_FIELDS = [
  'kind',
  'apiVersion',
  'name',
  'nodes',
  'networking',
  'featureGates',
  'runtimeConfig',
  'kubeadmConfigPatches',
  'kubeadmConfigPatchesJSON6902',
  'containerdConfigPatches',
  'containerdConfigPatchesJSON6902',
];
const KIND_NODE_FIELDS = [
  'role',
  'image',
  'labels',
  'extraMounts',
  'extraPortMappings',
  'gpus',
  'kubeadmConfigPatches',
  'kubeadmConfigPatchesJSON6902',
];
const KIND_NETWORKING_FIELDS = [
  'ipFamily',
  'apiServerPort',
  'apiServerAddress',
  'podSubnet',
  'serviceSubnet',
  'disableDefaultCNI',
  'kubeProxyMode',
  'dnsSearch',
];

// Kubernetes' validation of names and labels (apimachinery validation.go).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function keysWithin(object: object, allowed: string[]): string[] {
  return Object.keys(object).filter((k) => !allowed.includes(k));
}

describe('the kind config (kind.x-k8s.io/v1alpha4)', () => {
  const config = YAML.parse(readFileSync(join(MANIFESTS, 'kind-config.yaml'), 'utf8'));

  test('has only fields kind knows, one control plane and two workers, kube-proxy in iptables mode', () => {
    expect(config.kind).toBe('Cluster');
    expect(config.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(keysWithin(config, KIND_CLUSTER_FIELDS)).toEqual([]);
    expect(keysWithin(config.networking, KIND_NETWORKING_FIELDS)).toEqual([]);
    for (const n of config.nodes) expect(keysWithin(n, KIND_NODE_FIELDS)).toEqual([]);
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
    expect(config.networking).toEqual({
      ipFamily: 'ipv4',
      kubeProxyMode: 'iptables',
      podSubnet: POD_SUBNET,
      serviceSubnet: SERVICE_SUBNET,
    });
  });

  test('labels the workers node1 and node2 with valid Kubernetes labels, and pins no image of its own (natscope passes --image)', () => {
    const labels = config.nodes.map((n: { labels?: Record<string, string> }) => n.labels ?? {});
    expect(labels).toEqual([{}, { [NODE_ROLE_LABEL]: 'node1' }, { [NODE_ROLE_LABEL]: 'node2' }]);
    for (const l of labels)
      for (const [k, v] of Object.entries(l))
        expect(QUALIFIED_NAME.test(k) && LABEL_VALUE.test(v as string)).toBe(true);
    expect(config.nodes.some((n: { image?: string }) => n.image)).toBe(false);
  });

  test('as natscope hands it to kind: the file itself in iptables mode, only kubeProxyMode changed in nftables mode', async () => {
    expect(await kindConfig('iptables')).toBe(readFileSync(join(MANIFESTS, 'kind-config.yaml'), 'utf8'));
    const text = await kindConfig('nftables');
    const nft = YAML.parse(text);
    // kind's ProxyMode values (pkg/apis/config/v1alpha4): iptables, ipvs, nftables (kind ≥ v0.24)
    expect(nft.networking.kubeProxyMode).toBe('nftables');
    expect(keysWithin(nft.networking, KIND_NETWORKING_FIELDS)).toEqual([]);
    expect({ ...nft, networking: { ...nft.networking, kubeProxyMode: 'iptables' } }).toEqual(config);
    expect(
      text.split('\n').filter((l, i) => l !== readFileSync(join(MANIFESTS, 'kind-config.yaml'), 'utf8').split('\n')[i]),
    ).toEqual(['  kubeProxyMode: nftables']);
  });
});

// The fields of the lab's manifests these tests read (a Pod's or a Service's).
const MetadataSchema = z.object({ name: z.string(), namespace: z.string(), labels: z.record(z.string(), z.string()) });
const ManifestSchema = z.discriminatedUnion('kind', [
  z.object({
    apiVersion: z.string(),
    kind: z.literal('Pod'),
    metadata: MetadataSchema,
    spec: z.object({
      nodeSelector: z.record(z.string(), z.string()).optional(),
      containers: z.array(
        z.object({
          image: z.string(),
          imagePullPolicy: z.string(),
          command: z.array(z.string()),
          args: z.array(z.string()),
          env: z.array(z.unknown()),
          // loose: the tests compare a port whole, its other fields included
          ports: z.array(z.looseObject({ containerPort: z.number() })),
        }),
      ),
    }),
  }),
  z.object({
    apiVersion: z.string(),
    kind: z.literal('Service'),
    metadata: MetadataSchema,
    spec: z.object({
      type: z.string().optional(),
      clusterIP: z.string(),
      ports: z.array(z.unknown()).optional(),
      selector: z.record(z.string(), z.string()),
    }),
  }),
]);

describe('the workloads (Pods and ClusterIP Services, core/v1)', () => {
  const docs = z
    .array(ManifestSchema)
    .parse(
      YAML.parseAllDocuments(readFileSync(join(MANIFESTS, 'workloads.yaml'), 'utf8')).map((d: { toJS(): unknown }) =>
        d.toJS(),
      ),
    );
  const pods = docs.filter((d) => d.kind === 'Pod');
  const services = docs.filter((d) => d.kind === 'Service');

  test("are v1 Pods and Services with valid names and labels, all labelled as natscope's", () => {
    expect(docs.map((d) => `${d.apiVersion} ${d.kind} ${d.metadata.name}`)).toEqual([
      'v1 Pod nginx',
      'v1 Pod mysql',
      'v1 Service nginx',
      'v1 Service mysql',
    ]);
    for (const d of docs) {
      expect(DNS1123_LABEL.test(d.metadata.name)).toBe(true);
      expect(d.metadata.namespace).toBe('default');
      expect(d.metadata.labels['app.kubernetes.io/part-of']).toBe('natscope');
      for (const [k, v] of Object.entries(d.metadata.labels))
        expect(QUALIFIED_NAME.test(k) && LABEL_VALUE.test(v)).toBe(true);
    }
  });

  test('pin nginx to node1 and mysql to node2, run natscope-net from the local image, never pulled', () => {
    for (const pod of pods) {
      const spec = PODS.find((p) => p.name === pod.metadata.name)!;
      expect(pod.spec.nodeSelector).toEqual({ [NODE_ROLE_LABEL]: spec.node });
      expect(pod.spec.containers).toHaveLength(1);
      const c = pod.spec.containers[0]!;
      expect(c.image).toBe(WORKLOADS_IMAGE_PLACEHOLDER);
      expect(c.imagePullPolicy).toBe('Never');
      expect(c.command).toEqual(['/natscope-net']);
      expect(c.args).toEqual([
        'serve',
        '--port',
        String(spec.port),
        '--name',
        spec.name,
        '--node',
        '$(NODE_NAME)',
        '--proto',
        spec.proto,
      ]);
      expect(c.env).toEqual([{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
      expect(c.ports).toEqual([
        { name: expect.stringMatching(/^[a-z0-9-]{1,15}$/), containerPort: spec.port, protocol: 'TCP' },
      ]);
    }
  });

  test("give the Services the netns lab's ClusterIPs and named ports, selecting their pods", () => {
    for (const svc of services) {
      const spec = SERVICES.find((s) => s.name === svc.metadata.name)!;
      const pod = pods.find((p) => p.metadata.name === spec.pod)!;
      expect(svc.spec.type).toBe('ClusterIP');
      expect(svc.spec.clusterIP).toBe(spec.clusterIP);
      expect(svc.spec.clusterIP.startsWith('10.96.')).toBe(true);
      expect(svc.spec.ports).toEqual([
        {
          name: spec.portName,
          protocol: 'TCP',
          port: spec.port,
          targetPort: pod.spec.containers[0]!.ports[0]!.containerPort,
        },
      ]);
      for (const [k, v] of Object.entries(svc.spec.selector)) expect(pod.metadata.labels[k]).toBe(v);
    }
  });
});

describe('pinned versions', () => {
  const env = Object.fromEntries(
    readFileSync(join(ROOT, 'scripts', 'provision', 'versions.env'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split('=') as [string, string]),
  );

  test('the provisioning script installs the kind release, node image, kubectl minor and Node.js major natscope pins', () => {
    expect(env.KIND_VERSION).toBe(KIND_VERSION);
    expect(env.KIND_NODE_IMAGE).toBe(NODE_IMAGE);
    expect(env.KUBECTL_MINOR).toBe(KUBERNETES_MINOR);
    expect(NODE_IMAGE).toMatch(
      new RegExp(`^kindest/node:${KUBERNETES_MINOR.replace('.', '\\.')}\\.\\d+@sha256:[0-9a-f]{64}$`),
    );
    expect(Number(env.NODE_MAJOR)).toBe(NODE_MAJOR);
  });

  // engines ranges of the two forms package.json uses: ^X.Y.Z and >=X.Y.Z, joined by ||
  const satisfies = (version: string, range: string) =>
    range.split('||').some((part) => {
      const m = /^\s*(\^|>=)(\d+)\.(\d+)\.(\d+)\s*$/.exec(part);
      if (!m) throw new Error(`engines form not understood: ${part}`);
      const want = m.slice(2).map(Number);
      const have = version.split('.').map(Number);
      const i = [0, 1, 2].find((k) => have[k] !== want[k]);
      const atLeast = i === undefined || have[i]! > want[i]!;
      return atLeast && (m[1] === '>=' || have[0] === want[0]);
    });

  test("package.json's engines admit the Node.js the workshop VM runs and the releases the toolchain (vite) runs on, nothing older", () => {
    const engines = String(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node);
    const lockRoot = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')).packages[''].engines.node;
    expect(lockRoot).toBe(engines);
    for (const v of [`${NODE_MAJOR}.0.0`, '24.11.0', '22.12.0', '20.19.0']) expect(satisfies(v, engines), v).toBe(true);
    for (const v of ['20.18.3', '21.7.0', '22.11.0', '18.20.0']) expect(satisfies(v, engines), v).toBe(false);
  });
});

function shellScripts(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (['node_modules', '.git', 'dist', 'build', '.vagrant'].includes(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) shellScripts(path, out);
    else if (
      name.endsWith('.sh') ||
      /^#!(\/usr\/bin\/env )?(\/bin\/)?(ba|da)?sh\b/.test(readFileSync(path, 'utf8').slice(0, 40))
    )
      out.push(relative(ROOT, path));
  }
  return out;
}

describe('static checks of the shell scripts and the Vagrantfile', () => {
  test('every shell script passes shellcheck', () => {
    expect(has('shellcheck'), 'shellcheck is missing: npm run setup -- --tests installs it').toBe(true);
    const scripts = shellScripts(ROOT);
    expect(scripts).toEqual(
      expect.arrayContaining(['scripts/provision/provision.sh', 'test/fixtures/kind/bin/kubectl']),
    );
    const r = spawnSync('shellcheck', ['-x', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('the Vagrantfile parses (ruby -c)', () => {
    expect(has('ruby'), 'ruby is missing: npm run setup -- --tests installs it').toBe(true);
    expect(execFileSync('ruby', ['-c', join(ROOT, 'Vagrantfile')], { encoding: 'utf8' }).trim()).toBe('Syntax OK');
  });

  test.skipIf(!has('vagrant'))(
    'vagrant validate accepts the Vagrantfile offline (no box, no provider)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'natscope-vagrant-'));
      try {
        const r = spawnSync('vagrant', ['validate', '--ignore-provider'], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 120_000,
          // its machine folder and home in a temp folder, not in the project
          env: {
            ...process.env,
            VAGRANT_DOTFILE_PATH: join(dir, 'dot'),
            VAGRANT_HOME: join(dir, 'home'),
            VAGRANT_CHECKPOINT_DISABLE: '1',
          },
        });
        expect(r.stdout + r.stderr).toContain('Vagrantfile validated successfully.');
        expect(r.status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    150_000,
  );
});
