// The kind lab's tests run against fake docker, kind, kubectl and nsenter
// (test/fixtures/kind/bin, answered by test/fixtures/kind/fake.mjs). This
// puts them first on PATH with a fresh world and state folder, and reads
// back what was called.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { IPTABLES_BACKENDS } from '../../../src/events/types.js';
import { NODE_IMAGE } from '../../../src/lab/kind/versions.js';
import { FIXTURES } from '../../helpers.js';

export const KIND_FIXTURES = join(FIXTURES, 'kind');
export const OUTPUTS = join(KIND_FIXTURES, 'outputs');
export const FAKE_BIN = join(KIND_FIXTURES, 'bin');

export const output = (file: string) => readFileSync(join(OUTPUTS, file), 'utf8');

const FakeNetworkSchema = z.object({
  id: z.string(),
  subnet: z.string().optional(),
  options: z.record(z.string(), z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type FakeNetwork = z.infer<typeof FakeNetworkSchema>;

const FakeContainerSchema = z.object({
  id: z.string(),
  running: z.boolean(),
  pid: z.number(),
  labels: z.record(z.string(), z.string()),
  networks: z.record(z.string(), z.string()),
});
export type FakeContainer = z.infer<typeof FakeContainerSchema>;

const iptablesBackend = z.enum(IPTABLES_BACKENDS);

const WorldSchema = z.object({
  dockerRunning: z.boolean(),
  dockerVersion: z.string(),
  kindVersion: z.string(),
  clusters: z.array(z.string()),
  controlPlaneId: z.string(),
  controlPlaneCreated: z.string(),
  stopped: z.array(z.string()),
  // PIDs of the node, office and vpn containers (nsenter --target)
  pids: z.record(z.string(), z.number()),
  containers: z.record(z.string(), FakeContainerSchema),
  networks: z.record(z.string(), FakeNetworkSchema),
  images: z.array(z.string()),
  // the ConfigMap's config.conf, what the running kube-proxy pods loaded, and the first one
  configConf: z.string(),
  proxyConfigConf: z.string(),
  initialConfigConf: z.string(),
  proxyGeneration: z.number(),
  // new kube-proxy pods never become Ready
  proxyStuck: z.boolean(),
  // the nodes' rules never change (a kube-proxy that never re-syncs)
  rulesFrozen: z.boolean(),
  kubeProxyBackend: iptablesBackend,
  // what `iptables` (iptables-save) means inside the nodes
  nodeAlternative: iptablesBackend,
  podInodes: z.record(z.string(), z.number()),
  nextSport: z.number(),
  lastMysqlSport: z.number().nullable(),
  vpnDrops: z.number(),
  // Docker NAT simulations: what the pods, and node2, see as the office's address
  podsSeeOffice: z.string().nullable(),
  node2SeesFrom: z.string().nullable(),
  mysqlServiceAnswers: z.boolean(),
  nodesNotReady: z.boolean(),
  // nsenter refuses (not root)
  notRoot: z.boolean(),
  // the image the node containers were created from (kind's --image)
  nodeImage: z.string(),
  // docker pull and npm ci reach their registries
  registryReachable: z.boolean(),
  // image → its platform as docker image inspect reports it; what docker pull gives (default: what was asked)
  imagePlatforms: z.record(z.string(), z.string()),
  pullPlatform: z.string().nullable(),
  npmVersion: z.string(),
  // the VM's own namespace: Docker's rules (outputs/host-iptables-save-*-docker-<this>.txt),
  // bridge-nf-call-iptables (null: br_netfilter not loaded), the Service CIDR blackhole
  hostDocker: z.enum(['20.10', '28']),
  brNetfilter: z.enum(['0', '1']).nullable(),
  blackhole: z.boolean(),
  // a host's `ip -j route show` from another host's capture (outputs/ip-route-<name>.json)
  routeTables: z.record(z.string(), z.string()),
  // rule tracing: the host (a key of pids) where `nft -f -` is refused, where `nft monitor trace` ends at once
  nftRefuses: z.string().nullable(),
  nftMonitorEnds: z.string().nullable(),
});
export type World = z.infer<typeof WorldSchema>;

export function defaultWorld(): World {
  const conf = output('kube-proxy-config.conf');
  return {
    dockerRunning: true,
    dockerVersion: '28.2.2',
    kindVersion: '0.32.0',
    clusters: [],
    controlPlaneId: 'a7d1c3e5f7091b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d',
    controlPlaneCreated: '2026-11-26T08:00:00.000000000Z',
    stopped: [],
    pids: {
      'natscope-control-plane': 4190001,
      'natscope-worker': 4190002,
      'natscope-worker2': 4190003,
      office: 4190004,
      vpn: 4190005,
    },
    containers: {},
    networks: {
      bridge: {
        id: '1'.repeat(64),
        subnet: '172.17.0.0/16',
        options: { 'com.docker.network.bridge.default_bridge': 'true' },
      },
      host: { id: '2'.repeat(64) },
      none: { id: '3'.repeat(64) },
      kind: {
        id: '4'.repeat(64),
        subnet: '172.18.0.0/16',
        options: { 'com.docker.network.bridge.enable_ip_masquerade': 'true' },
      },
    },
    images: [],
    configConf: conf,
    proxyConfigConf: conf,
    initialConfigConf: conf,
    proxyGeneration: 1,
    proxyStuck: false,
    rulesFrozen: false,
    kubeProxyBackend: 'nft',
    nodeAlternative: 'nft',
    podInodes: { nginx: 4026532801, mysql: 4026532802 },
    nextSport: 41000,
    lastMysqlSport: null,
    vpnDrops: 0,
    podsSeeOffice: null,
    node2SeesFrom: null,
    mysqlServiceAnswers: false,
    nodesNotReady: false,
    notRoot: false,
    nodeImage: NODE_IMAGE,
    registryReachable: true,
    imagePlatforms: {},
    pullPlatform: null,
    npmVersion: '11.19.1',
    hostDocker: '28',
    brNetfilter: '1',
    blackhole: true,
    routeTables: {},
    nftRefuses: null,
    nftMonitorEnds: null,
  };
}

// One line of the fakes' calls.jsonl.
const CallSchema = z.object({
  tool: z.string(),
  args: z.array(z.string()),
  stdin: z.string().optional(),
  // npm's working directory
  cwd: z.string().optional(),
});
export type Call = z.infer<typeof CallSchema>;

export interface Fakes {
  dir: string;
  stateDir: string;
  calls(): Call[];
  // calls as "tool arg arg …" lines, easier to search
  lines(): string[];
  world(): World;
  update(patch: Partial<World>): void;
  restore(): void;
}

const ENV_KEYS = [
  'PATH',
  'NATSCOPE_FAKE_DIR',
  'NATSCOPE_FAKE_NODE',
  'NATSCOPE_STATE_DIR',
  'NATSCOPE_KIND_WAIT_S',
  'NATSCOPE_KIND_OFFICE_CIDR',
] as const;

// `only`: a PATH of just these fakes (to make the others "not installed").
export function useFakes(patch: Partial<World> = {}, options: { only?: string[]; waitS?: number } = {}): Fakes {
  const dir = mkdtempSync(join(tmpdir(), 'natscope-kindfake-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  writeFileSync(join(dir, 'world.json'), JSON.stringify({ ...defaultWorld(), ...patch }, null, 2));
  writeFileSync(join(dir, 'calls.jsonl'), '');
  let bin = FAKE_BIN;
  if (options.only) {
    bin = join(dir, 'bin');
    mkdirSync(bin);
    // not symlinks: the fakes find fake.mjs next to themselves
    for (const tool of options.only)
      writeFileSync(join(bin, tool), `#!/bin/bash\nexec ${join(FAKE_BIN, tool)} "$@"\n`, { mode: 0o755 });
  }
  const saved = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  process.env.PATH = options.only ? bin : `${bin}:${process.env.PATH}`;
  process.env.NATSCOPE_FAKE_DIR = dir;
  process.env.NATSCOPE_FAKE_NODE = process.execPath;
  process.env.NATSCOPE_STATE_DIR = stateDir;
  process.env.NATSCOPE_KIND_WAIT_S = String(options.waitS ?? 10);
  delete process.env.NATSCOPE_KIND_OFFICE_CIDR;
  const world = () => WorldSchema.parse(JSON.parse(readFileSync(join(dir, 'world.json'), 'utf8')));
  const calls = () =>
    readFileSync(join(dir, 'calls.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => CallSchema.parse(JSON.parse(l)));
  return {
    dir,
    stateDir,
    calls,
    lines: () => calls().map((c) => [c.tool, ...c.args].join(' ')),
    world,
    update(p) {
      writeFileSync(join(dir, 'world.json'), JSON.stringify({ ...world(), ...p }, null, 2));
    },
    restore() {
      for (const k of ENV_KEYS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Indexes of the first call matching each pattern, in order; -1 when one is missing.
export function order(lines: string[], patterns: RegExp[]): number[] {
  let from = 0;
  return patterns.map((p) => {
    const i = lines.findIndex((l, idx) => idx >= from && p.test(l));
    if (i >= 0) from = i + 1;
    return i;
  });
}

// A world where `lab up` has finished: the cluster natscope created, the
// office and vpn containers, the office network, kube-proxy staged for the
// incident; and natscope's record of it.
export async function labIsUp(f: Fakes, image: string, staged: string): Promise<void> {
  const w = f.world();
  const label = { 'io.natscope.lab': 'natscope' };
  f.update({
    clusters: ['natscope'],
    images: [image],
    containers: {
      'natscope-vpn': {
        id: 'c'.repeat(64),
        running: true,
        pid: w.pids.vpn!,
        labels: label,
        networks: { 'natscope-office': '192.168.10.1', kind: '172.18.0.5' },
      },
      'natscope-office': {
        id: 'd'.repeat(64),
        running: true,
        pid: w.pids.office!,
        labels: label,
        networks: { 'natscope-office': '192.168.10.10' },
      },
    },
    networks: {
      ...w.networks,
      'natscope-office': {
        id: '5'.repeat(64),
        subnet: '192.168.10.0/24',
        labels: label,
        options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
      },
    },
    configConf: staged,
    proxyConfigConf: staged,
    proxyGeneration: 2,
  });
  const state = {
    version: 1,
    backend: 'kind',
    prefix: 'natscope-',
    cluster: 'natscope',
    createdCluster: true,
    createStartedAt: '2026-11-26T07:59:00.000Z',
    controlPlaneId: w.controlPlaneId,
    officeCIDR: '192.168.10.0/24',
    image,
    complete: true,
    updatedAt: '2026-11-26T08:05:00.000Z',
  };
  writeFileSync(join(f.stateDir, 'natscope-kind.json'), JSON.stringify(state));
  writeFileSync(join(f.stateDir, 'natscope-kind.kubeconfig'), output('kind-get-kubeconfig.yaml'));
}
