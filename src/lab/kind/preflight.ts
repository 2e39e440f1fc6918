// `natscope doctor --lab kind`: what the instructor runs after `vagrant up`,
// one line per fact the kind lab depends on, each failing line with its fix,
// in seconds (every read runs at once; nothing waits for kube-proxy):
//   Docker, its filter chains and Docker ≥ 28's raw-table drops around the
//   lab's bridges, br_netfilter; the kind cluster and its nodes; kube-proxy's
//   mode, effective masqueradeAll, clusterCIDR and detectLocalMode from the
//   ConfigMap, and the same read back from the rules on node1 and node2; the
//   office and vpn containers and every lab route; the pinned versions;
//   whether kernel function probes attach; the Service CIDR blackhole.

import { z } from 'zod';
import { describeError, NatscopeError } from '../../errors.js';
import { type AttachResult, functionProbesAttach } from '../../tracer/capabilities.js';
import { type Check, CheckSchema } from '../../util/check.js';
import { jsonLine, safeLine } from '../../util/terminal.js';
import { SERVICES } from '../netns/topology.js';
import { VPN_RULES } from '../netns/build.js';
import { clusterExists, clusterNodes, kindVersion } from './cluster.js';
import { allNetworks, inspectContainers, type ContainerInfo, type NetworkInfo, serverVersion } from './docker.js';
import {
  blackholeRoutes,
  blackholesCovering,
  bridgeNfCallIptables,
  bridgeOf,
  dockerMajor,
  hostRules,
  parseDirectAccessDrops,
  parseDockerFilter,
  routeOut,
  routesIn,
} from './host.js';
import { Kubectl } from './kubectl.js';
import { type KubeProxySettings, readKubeProxySettings } from './kubeproxy-config.js';
import { kindNames, officeCidrFromEnv, officePlan, SERVICE_SUBNET, type KindNames, type OfficePlan } from './names.js';
import { inNetnsOf } from './nsenter.js';
import {
  describeFinding,
  expectedMasquerade,
  findingMatches,
  findServiceMasquerade,
  nodeRules,
  notInterfaceText,
  notSourceText,
} from './rules.js';
import { discoverTopology } from './running.js';
import { kubeconfigPath, readKindState } from './state.js';
import { run } from './tools.js';
import type { KindTopology } from './topology.js';
import { KIND_VERSION, KUBERNETES_MINOR, NODE_IMAGE, NODE_IMAGE_TAG, NODE_MAJOR } from './versions.js';

// What `natscope doctor --lab kind --json` prints.
export const KindPreflightSchema = z.object({
  lab: z.literal('kind'),
  prefix: z.string(),
  cluster: z.string(),
  checks: z.array(CheckSchema),
  ms: z.number(),
});
export type KindPreflight = z.infer<typeof KindPreflightSchema>;

// What the preflight cannot read through the tools on PATH.
export interface PreflightProbes {
  functionProbes(): Promise<AttachResult>;
  nodeVersion: string;
}

const defaultProbes: PreflightProbes = {
  functionProbes: functionProbesAttach,
  nodeVersion: process.versions.node,
};

const LAB_UP = 'sudo natscope lab up --lab kind';

type Settled<T> = { ok: true; value: T } | { ok: false; error: string; hint?: string };

async function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return {
      ok: false,
      error: describeError(error),
      ...(error instanceof NatscopeError && error.hint ? { hint: error.hint } : {}),
    };
  }
}

const check = (name: string, ok: boolean, detail: string, fix: string, required = true): Check => ({
  name,
  ok,
  detail,
  ...(ok ? {} : { fix }),
  required,
});

// ---- versions ----

// the one field read from `kubectl version --client -o json`
const KubectlVersionSchema = z.object({ clientVersion: z.object({ gitVersion: z.string() }) });

async function kubectlClientVersion(): Promise<string> {
  const value: unknown = JSON.parse((await run('kubectl', ['version', '--client', '-o', 'json'])).stdout);
  const parsed = KubectlVersionSchema.safeParse(value);
  if (!parsed.success) throw new NatscopeError('kubectl version --client -o json gave no clientVersion.gitVersion');
  return parsed.data.clientVersion.gitVersion;
}

function minorOf(version: string): number | null {
  const m = /^v?1\.(\d+)/.exec(version);
  return m ? Number(m[1]) : null;
}

function versionChecks(
  kind: Settled<string>,
  kubectl: Settled<string>,
  nodes: ContainerInfo[],
  probes: PreflightProbes,
): Check[] {
  const provision = 'sudo bash scripts/provision/provision.sh (it installs the pinned versions)';
  const kindV = kind.ok ? `v${kind.value.replace(/^v/, '')}` : null;
  const wantMinor = minorOf(KUBERNETES_MINOR)!;
  const kubectlMinor = kubectl.ok ? minorOf(kubectl.value) : null;
  const images = [...new Set(nodes.map((n) => n.image))];
  const nodeMajor = Number(probes.nodeVersion.split('.')[0]);
  return [
    check(
      'kind',
      kindV === KIND_VERSION,
      kindV
        ? `kind ${kindV}${kindV === KIND_VERSION ? ' (pinned)' : `, natscope pins ${KIND_VERSION}`}`
        : kind.ok
          ? ''
          : kind.error,
      kind.ok ? provision : (kind.hint ?? provision),
    ),
    check(
      'kubectl',
      kubectlMinor !== null && Math.abs(kubectlMinor - wantMinor) <= 1,
      kubectl.ok
        ? `kubectl ${kubectl.value} (the cluster is ${KUBERNETES_MINOR}; kubectl supports one minor either side)`
        : kubectl.error,
      kubectl.ok ? provision : (kubectl.hint ?? provision),
    ),
    check(
      'node-image',
      images.length > 0 && images.every((i) => i === NODE_IMAGE || i === NODE_IMAGE_TAG),
      images.length === 0
        ? 'no node containers to read'
        : `the nodes run ${images.join(', ')}${images.every((i) => i === NODE_IMAGE || i === NODE_IMAGE_TAG) ? ' (pinned)' : `, natscope pins ${NODE_IMAGE}`}`,
      `recreate the cluster with the pinned image: sudo natscope lab down --lab kind && ${LAB_UP}`,
    ),
    check(
      'nodejs',
      nodeMajor >= NODE_MAJOR,
      `Node.js v${probes.nodeVersion}${nodeMajor >= NODE_MAJOR ? '' : `; the workshop VM runs Node.js ${NODE_MAJOR}`}`,
      provision,
      false,
    ),
  ];
}

// ---- Docker and the VM's own namespace ----

interface LabBridges {
  kind: string | null;
  office: string | null;
  // each lab address and the bridge its traffic arrives on
  addresses: { what: string; ip: string; bridge: string }[];
}

function labBridges(networks: NetworkInfo[], names: KindNames, t: KindTopology | null, plan: OfficePlan): LabBridges {
  const kindNet = networks.find((n) => n.name === (t?.kindNetwork ?? 'kind'));
  const officeNet = networks.find((n) => n.name === names.officeNetwork);
  const kind = kindNet ? bridgeOf(kindNet) : null;
  const office = officeNet ? bridgeOf(officeNet) : null;
  const addresses: LabBridges['addresses'] = [];
  if (t && kind) {
    for (const n of t.nodes) addresses.push({ what: n.role, ip: n.ip, bridge: kind });
    if (t.vpn?.ip) addresses.push({ what: 'vpn', ip: t.vpn.ip, bridge: kind });
  }
  if (office) {
    addresses.push({ what: 'vpn', ip: plan.vpn, bridge: office });
    addresses.push({ what: 'office', ip: plan.client, bridge: office });
  }
  return { kind, office, addresses };
}

function dockerChecks(
  version: string,
  filter: string | null,
  raw: string | null,
  bridges: LabBridges,
  brNetfilter: boolean | null,
  officeNetwork: NetworkInfo | undefined,
): Check[] {
  const restart =
    'sudo systemctl restart docker (Docker writes its chains when it starts; a firewall reload such as firewalld or iptables -F removes them)';
  const modern = dockerMajor(version) >= 28;
  const checks: Check[] = [];
  if (filter === null) {
    checks.push(check('docker-forward', false, 'iptables-save -t filter failed', 'run natscope doctor with sudo'));
  } else {
    const f = parseDockerFilter(filter);
    const wanted = modern ? ['DOCKER-USER', 'DOCKER-FORWARD'] : ['DOCKER-USER', 'DOCKER-ISOLATION-STAGE-1'];
    const missing = wanted.filter((j) => !f.forwardJumps.includes(j));
    const labBridgeList = [bridges.kind && `kind ${bridges.kind}`, bridges.office && `office ${bridges.office}`].filter(
      (b): b is string => Boolean(b),
    );
    const unaccepted = [bridges.kind, bridges.office].filter(
      (b): b is string => b !== null && !f.acceptedBridges.has(b),
    );
    checks.push(
      check(
        'docker-forward',
        missing.length === 0 && unaccepted.length === 0,
        missing.length > 0
          ? `filter FORWARD (policy ${f.forwardPolicy ?? '?'}) lacks the jump${missing.length > 1 ? 's' : ''} to ${missing.join(', ')} Docker ${modern ? '≥ 28' : '< 28'} writes`
          : unaccepted.length > 0
            ? `Docker accepts no traffic of ${unaccepted.join(', ')} in ${modern ? 'DOCKER-FORWARD' : 'FORWARD'}: with br_netfilter on, the lab's bridged packets meet FORWARD's policy ${f.forwardPolicy ?? '?'}`
            : `filter FORWARD (policy ${f.forwardPolicy ?? '?'}) → ${f.forwardJumps.join(', ')} (Docker ${modern ? '≥ 28' : '< 28'}'s layout); ${labBridgeList.join(' and ') || "the lab's bridges"}: own traffic accepted`,
        restart,
      ),
    );
  }
  if (raw === null) {
    checks.push(check('docker-raw', false, 'iptables-save -t raw failed', 'run natscope doctor with sudo'));
  } else {
    const drops = parseDirectAccessDrops(raw);
    const conflicts = bridges.addresses.flatMap((a) =>
      drops
        .filter((d) => d.ip === a.ip && d.bridge !== a.bridge)
        .map((d) => `${a.what} ${a.ip} (only from ${d.bridge})`),
    );
    const covered = bridges.addresses.filter((a) => drops.some((d) => d.ip === a.ip && d.bridge === a.bridge));
    checks.push(
      check(
        'docker-raw',
        conflicts.length === 0,
        conflicts.length > 0
          ? `raw PREROUTING drops ${conflicts.join(', ')}: the lab's traffic to them arrives on another bridge`
          : drops.length === 0
            ? modern
              ? 'raw PREROUTING: no direct-access drops (allow-direct-routing is on, or the raw table is not available)'
              : `raw PREROUTING: no rules (Docker ${version} predates the direct-access drops of Docker 28)`
            : `raw PREROUTING: ${drops.length} direct-access drops (Docker ≥ 28); ${covered.length} are the lab's addresses, each reachable from its own bridge, where the lab's traffic arrives`,
        `${restart}; then ${LAB_UP}`,
      ),
    );
  }
  const officeNoNat = officeNetwork?.options['com.docker.network.bridge.enable_ip_masquerade'] === 'false';
  checks.push(
    check(
      'br_netfilter',
      brNetfilter !== true || officeNoNat,
      brNetfilter === null
        ? "not loaded: the VM's iptables do not see bridged traffic"
        : brNetfilter
          ? `on (net.bridge.bridge-nf-call-iptables = 1): the VM's iptables see the lab's bridged traffic${officeNoNat ? '; the office network has masquerading off, so Docker does not rewrite the office client' : ', and Docker masquerades the office network: the pods would not see the office client'}`
          : 'loaded, off (net.bridge.bridge-nf-call-iptables = 0)',
      `recreate the office network without NAT: ${LAB_UP}`,
    ),
  );
  return checks;
}

function blackholeCheck(json: string, leak: { leaves: boolean; detail: string }, probeIp: string): Check {
  const covering = blackholesCovering(json, SERVICE_SUBNET);
  return check(
    'blackhole',
    covering.length > 0 && !leak.leaves,
    covering.length > 0 && !leak.leaves
      ? `blackhole ${covering.join(', ')}: a ClusterIP packet no node DNATs (a ping) is dropped on this machine (ip route get ${probeIp}: ${leak.detail})`
      : leak.leaves
        ? `${probeIp} leaves this machine (${leak.detail}): a ClusterIP ping would reach the network beyond it`
        : `no blackhole route for ${SERVICE_SUBNET}`,
    `sudo ip route replace blackhole ${SERVICE_SUBNET} (provisioning adds it, and its boot unit at every boot)`,
  );
}

// ---- the cluster, kube-proxy, the lab's containers and routes ----

function describeSettings(s: KubeProxySettings): string {
  const detect = s.detectLocalModeWritten === '' ? `"" (= ClusterCIDR)` : s.detectLocalModeWritten;
  return `mode ${s.mode || '"" (= iptables)'}, iptables.masqueradeAll ${s.iptablesMasqueradeAll}, nftables.masqueradeAll ${s.nftablesMasqueradeAll}, clusterCIDR ${s.clusterCIDR ?? '""'}, detectLocalMode ${detect}`;
}

function whatItDoes(s: KubeProxySettings): { incident: boolean; text: string } {
  const want = expectedMasquerade(s, '<node pod CIDR>');
  if (s.masqueradeAll) return { incident: false, text: 'every client is masqueraded (masqueradeAll): a fix is staged' };
  if (!want.rule)
    return {
      incident: true,
      text: 'off-cluster clients are DNATed but not masqueraded: the incident is staged',
    };
  const mode = s.mode === 'nftables' ? 'nftables' : 'iptables';
  const how = want.notSource ? notSourceText(mode, want.notSource) : notInterfaceText(mode, want.notInterface ?? '');
  return {
    incident: false,
    text: `off-cluster clients are masqueraded (${s.detectLocalMode} detector: ${how}): a fix is staged`,
  };
}

function kubeProxyChecks(s: Settled<KubeProxySettings>): Check[] {
  if (!s.ok) return [check('kube-proxy', false, `the kube-proxy ConfigMap: ${s.error}`, s.hint ?? LAB_UP)];
  const v = s.value;
  // the modes the lab stages the incident in (ipvs is not one)
  const labMode = ['', 'iptables', 'nftables'].includes(v.mode);
  const checks = [
    check(
      'kube-proxy',
      labMode && v.detectLocalMode !== null,
      `ConfigMap: ${describeSettings(v)}${v.detectLocalMode === null ? ' (not a mode kube-proxy knows)' : ''}`,
      labMode
        ? 'detectLocalMode is one of ClusterCIDR, NodeCIDR, BridgeInterface, InterfaceNamePrefix: kubectl -n kube-system edit configmap kube-proxy'
        : `the lab needs iptables or nftables mode: sudo natscope lab down --lab kind && ${LAB_UP} [--proxy-mode nftables]`,
    ),
  ];
  if (v.ignoredTopLevelMasqueradeAll !== null) {
    checks.push(
      check(
        'masqueradeAll-key',
        false,
        `config.conf has a top-level "masqueradeAll: ${v.ignoredTopLevelMasqueradeAll}": kube-proxy ignores unknown keys, so it changes nothing`,
        `the key is masqueradeAll under ${v.mode === 'nftables' ? 'nftables' : 'iptables'}: (${v.mode === 'nftables' ? 'nftables' : 'iptables'}.masqueradeAll); sudo natscope lab set masquerade-all on writes it there`,
        false,
      ),
    );
  }
  const effect = whatItDoes(v);
  checks.push(
    check(
      'staged',
      effect.incident,
      effect.text,
      'to start the walkthrough from the incident: sudo natscope lab set masquerade-all off && sudo natscope lab set cluster-cidr none',
      false,
    ),
  );
  return checks;
}

async function nodeRuleCheck(role: 'node1' | 'node2', t: KindTopology, settings: KubeProxySettings): Promise<Check> {
  const n = t.nodes.find((x) => x.role === role);
  if (!n) return check(`rules-${role}`, false, `no ${role} in the cluster`, LAB_UP);
  const mode = settings.mode === 'nftables' ? 'nftables' : 'iptables';
  const rules = await settle(nodeRules(n.container, mode));
  if (!rules.ok) return check(`rules-${role}`, false, `${n.container}: ${rules.error}`, rules.hint ?? LAB_UP);
  const found = findServiceMasquerade(rules.value.text, mode);
  const want = expectedMasquerade(settings, n.podCIDR || null);
  const ok = findingMatches(found, want);
  const source = mode === 'nftables' ? rules.value.tool : `iptables-save, ${rules.value.backend}`;
  const wanted = want.notSource
    ? notSourceText(mode, want.notSource)
    : want.notInterface
      ? notInterfaceText(mode, want.notInterface)
      : 'no source match';
  return check(
    `rules-${role}`,
    ok,
    `${n.container} (${source}): ${describeFinding(found)}${ok ? ', as the ConfigMap says' : `; the ConfigMap says ${want.rule ? `a masquerade rule with ${wanted}` : 'no masquerade rule'}`}`,
    'kube-proxy has not re-read its ConfigMap: kubectl -n kube-system delete pod -l k8s-app=kube-proxy (the DaemonSet restarts them), or sudo natscope lab set masquerade-all on|off, which does it and waits for the rules',
  );
}

interface LabRoute {
  dst: string;
  gateway: string | null;
}

// a container's routes (output that is not JSON fails the check that reads them); one without a destination is skipped
async function routesOf(pid: number): Promise<LabRoute[]> {
  const r = await inNetnsOf(pid, ['ip', '-j', 'route', 'show']);
  return routesIn(JSON.parse(r.stdout.trim() || '[]')).flatMap(({ dst, gateway }) =>
    dst === undefined ? [] : [{ dst, gateway: gateway ?? null }],
  );
}

const via = (routes: LabRoute[], dst: string) => routes.filter((r) => r.dst === dst).map((r) => r.gateway);

async function labRouteChecks(
  t: KindTopology,
  plan: OfficePlan,
  officeNetwork: NetworkInfo | undefined,
): Promise<Check[]> {
  const checks: Check[] = [];
  const node1 = t.nodes.find((n) => n.role === 'node1');
  // office: running, its address, default route via the vpn
  if (!t.office) {
    checks.push(check('office', false, `the office container ${t.names.office} is not running`, LAB_UP));
  } else {
    const r = await settle(routesOf(t.office.pid));
    const gw = r.ok ? via(r.value, 'default') : [];
    const noNat = officeNetwork?.options['com.docker.network.bridge.enable_ip_masquerade'] === 'false';
    checks.push(
      check(
        'office',
        r.ok && gw.length === 1 && gw[0] === plan.vpn && noNat,
        !r.ok
          ? r.error
          : `${t.names.office} ${t.office.ip} on ${plan.cidr} (${noNat ? 'no NAT' : 'Docker masquerades this network'}); default via ${gw.join(', ') || 'nothing'}${gw[0] === plan.vpn ? ' (the vpn)' : `, not the vpn ${plan.vpn}`}`,
        LAB_UP,
      ),
    );
  }
  // vpn: running, the Service CIDR to node1 only, each pod CIDR to its node, the INVALID drop
  if (!t.vpn) {
    checks.push(check('vpn', false, `the vpn container ${t.names.vpn} is not running`, LAB_UP));
  } else {
    const [r, rules] = await Promise.all([
      settle(routesOf(t.vpn.pid)),
      settle(inNetnsOf(t.vpn.pid, ['iptables-save', '-t', 'filter'])),
    ]);
    const problems: string[] = [];
    if (!r.ok) problems.push(r.error);
    else {
      const svc = via(r.value, SERVICE_SUBNET);
      if (svc.length !== 1 || svc[0] !== node1?.ip)
        problems.push(`${SERVICE_SUBNET} via ${svc.join(', ') || 'nothing'}, not node1 ${node1?.ip ?? ''}`);
      for (const n of t.nodes.filter((x) => x.podCIDR)) {
        const g = via(r.value, n.podCIDR);
        if (g.length !== 1 || g[0] !== n.ip)
          problems.push(`${n.podCIDR} via ${g.join(', ') || 'nothing'}, not ${n.role} ${n.ip}`);
      }
    }
    const dropRule = VPN_RULES.split('\n').find((l) => l.startsWith('-A FORWARD'))!;
    // iptables-save -c prefixes each rule with its counters
    const hasDrop =
      rules.ok && rules.value.stdout.split('\n').some((l) => l.replace(/^\[\d+:\d+\] /, '').trim() === dropRule);
    if (!hasDrop) problems.push('no ctstate INVALID drop in its FORWARD chain');
    checks.push(
      check(
        'vpn',
        problems.length === 0,
        problems.length === 0
          ? `${t.names.vpn} ${plan.vpn} | ${t.vpn.ip}: ${SERVICE_SUBNET} via node1 ${node1?.ip} only, each pod CIDR via its node, FORWARD drops ctstate INVALID (the cloud fabric)`
          : `${t.names.vpn}: ${problems.join('; ')}`,
        LAB_UP,
      ),
    );
  }
  // nodes: the office via the vpn
  for (const role of ['node1', 'node2'] as const) {
    const n = t.nodes.find((x) => x.role === role);
    if (!n?.pid) {
      checks.push(check(`routes-${role}`, false, `${role}'s container is not running`, LAB_UP));
      continue;
    }
    const r = await settle(routesOf(n.pid));
    const g = r.ok ? via(r.value, plan.cidr) : [];
    checks.push(
      check(
        `routes-${role}`,
        r.ok && g.length === 1 && g[0] === t.vpn?.ip,
        r.ok
          ? `${n.container}: ${plan.cidr} via ${g.join(', ') || 'nothing'}${g[0] === t.vpn?.ip ? ' (the vpn)' : ''}`
          : r.error,
        LAB_UP,
      ),
    );
  }
  return checks;
}

function clusterCheck(t: KindTopology, nodes: ContainerInfo[], ready: Map<string, boolean>): Check {
  const stopped = nodes.filter((n) => !n.running).map((n) => n.name);
  const notReady = t.nodes.filter((n) => !ready.get(n.container)).map((n) => n.container);
  const roles = t.nodes
    .filter((n) => n.role !== 'control-plane')
    .map((n) => `${n.role} = ${n.container} (${n.ip}, pods ${n.podCIDR})`);
  return check(
    'cluster',
    stopped.length === 0 && notReady.length === 0,
    stopped.length > 0
      ? `kind cluster ${t.names.cluster}: ${stopped.join(', ')} stopped`
      : notReady.length > 0
        ? `kind cluster ${t.names.cluster}: ${notReady.join(', ')} not Ready`
        : `kind cluster ${t.names.cluster}: ${t.nodes.length} nodes running and Ready; ${roles.join(', ')}`,
    `${LAB_UP} (it starts stopped nodes and waits for them)`,
  );
}

export async function kindPreflight(prefix: string, probes: PreflightProbes = defaultProbes): Promise<KindPreflight> {
  const started = performance.now();
  const names = kindNames(prefix);
  const state = await readKindState(prefix);
  const plan = officePlan(state?.officeCIDR ?? officeCidrFromEnv());
  const probeIp = SERVICES.find((s) => s.name === 'mysql')!.clusterIP;
  const [docker, kind, kubectl, filter, raw, brNetfilter, blackholes, leak, kfunc, networks, exists] =
    await Promise.all([
      settle(serverVersion()),
      settle(kindVersion()),
      settle(kubectlClientVersion()),
      hostRules('filter'),
      hostRules('raw'),
      bridgeNfCallIptables(),
      blackholeRoutes(),
      routeOut(probeIp),
      probes.functionProbes(),
      settle(allNetworks()),
      settle(clusterExists(names.cluster)),
    ]);
  const checks: Check[] = [];
  checks.push(
    check(
      'docker',
      docker.ok,
      docker.ok ? `Docker ${docker.value}` : docker.error,
      docker.ok ? '' : (docker.hint ?? 'sudo systemctl start docker'),
    ),
  );

  let topology: KindTopology | null = null;
  let nodeContainers: ContainerInfo[] = [];
  const later: Check[] = [];
  if (!docker.ok) {
    later.push(check('cluster', false, 'not checked: Docker does not answer', 'fix the docker line first'));
  } else if (!exists.ok || !exists.value) {
    later.push(
      check(
        'cluster',
        false,
        exists.ok ? `no kind cluster named "${names.cluster}"` : exists.error,
        exists.ok ? LAB_UP : (exists.hint ?? LAB_UP),
      ),
    );
  } else {
    const kube = new Kubectl(kubeconfigPath(names.prefix));
    const [t, nodeNames, kubeNodes, settings] = await Promise.all([
      settle(discoverTopology(names, plan, kube)),
      settle(clusterNodes(names.cluster)),
      settle(kube.nodes()),
      settle(kube.kubeProxyConfigText().then(readKubeProxySettings)),
    ]);
    nodeContainers = nodeNames.ok ? await inspectContainers(nodeNames.value) : [];
    if (!t.ok) later.push(check('cluster', false, t.error, t.hint ?? LAB_UP));
    else {
      topology = t.value;
      const ready = new Map((kubeNodes.ok ? kubeNodes.value : []).map((n) => [n.name, n.ready]));
      later.push(clusterCheck(t.value, nodeContainers, ready));
      later.push(...kubeProxyChecks(settings));
      if (settings.ok) {
        const s = settings.value;
        later.push(...(await Promise.all([nodeRuleCheck('node1', t.value, s), nodeRuleCheck('node2', t.value, s)])));
      }
      const officeNet = networks.ok ? networks.value.find((n) => n.name === names.officeNetwork) : undefined;
      later.push(...(await labRouteChecks(t.value, plan, officeNet)));
    }
  }
  if (docker.ok) {
    const nets = networks.ok ? networks.value : [];
    const officeNet = nets.find((n) => n.name === names.officeNetwork);
    checks.push(
      ...dockerChecks(docker.value, filter, raw, labBridges(nets, names, topology, plan), brNetfilter, officeNet),
    );
  }
  checks.push(...later);
  checks.push(...versionChecks(kind, kubectl, nodeContainers, probes));
  checks.push(
    check(
      'kfunc',
      kfunc.ok,
      kfunc.ok
        ? 'a kernel function probe (kfunc) attached: the nat, conntrack and rewrite probes run natively'
        : `no kernel function probe attaches: ${kfunc.detail}`,
      "the kind lab is traced natively only: boot a kernel with BTF and a readable ftrace function list (Ubuntu 24.04's is one); natscope trace --lab kind --probes drop works without them",
    ),
  );
  checks.push(blackholeCheck(blackholes, leak, probeIp));
  return { lab: 'kind', prefix, cluster: names.cluster, checks, ms: Math.round(performance.now() - started) };
}

// The report as doctor prints it: one line per check, its fix beneath.
// Names, images and ConfigMap values come from the cluster: escaped for the terminal.
export function renderPreflight(report: KindPreflight): string {
  const lines = [`natscope doctor --lab kind: cluster "${safeLine(report.cluster)}"`];
  for (const c of report.checks) {
    const mark = c.ok ? '✓' : c.required ? '✗' : '!';
    lines.push(`  ${mark} ${c.name.padEnd(17)} ${safeLine(c.detail)}`);
    if (!c.ok && c.fix) lines.push(`    ${''.padEnd(17)} fix: ${safeLine(c.fix)}`);
  }
  const failed = report.checks.filter((c) => c.required && !c.ok).length;
  lines.push(
    '',
    failed === 0
      ? `The kind lab is ready (${(report.ms / 1000).toFixed(1)} s).`
      : `${failed} line${failed === 1 ? '' : 's'} marked ✗ to fix (${(report.ms / 1000).toFixed(1)} s).`,
  );
  return `${lines.join('\n')}\n`;
}

export function preflightFailed(report: KindPreflight): boolean {
  return report.checks.some((c) => c.required && !c.ok);
}

// natscope doctor --lab kind: the report on stdout (or as one JSON object); exit 1 when a required line fails.
export async function kindDoctor(options: { json: boolean; prefix: string }): Promise<number> {
  const report = await kindPreflight(options.prefix);
  process.stdout.write(options.json ? `${jsonLine(report)}\n` : renderPreflight(report));
  return preflightFailed(report) ? 1 : 0;
}
