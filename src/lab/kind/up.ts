// `natscope lab up --lab kind`: creates the kind cluster if absent (or reuses
// the one natscope created), stages the incident and proves it before
// calling the lab ready. Safe to run again at any time: every step checks
// before it acts. Nothing natscope did not create is touched; what it does
// create is recorded first (state.ts), so `lab down` can always undo it.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { NatscopeError } from '../../errors.js';
import type { KubeProxyConfig, LabStatus, ProxyMode } from '../../events/types.js';
import { helperPath } from '../netns/build.js';
import { checkCidr } from '../clusterCidr.js';
import {
  clusterExists,
  clusterNodes,
  createCluster,
  kindVersion,
  manifestPath,
  nodeImageToUse,
  writeKubeconfig,
} from './cluster.js';
import { allNetworks, containerByName, docker, inspectContainers, serverVersion } from './docker.js';
import { ensureImage, loadIntoCluster } from './image.js';
import { Kubectl } from './kubectl.js';
import { applyKubeProxy } from './kubeproxy.js';
import { SERVICE_SUBNET, kindNames, officeCidrFromEnv, officePlan, type KindNames, type OfficePlan } from './names.js';
import {
  checkOfficeCidr,
  ensureOfficeNetwork,
  foreignNames,
  removeOfficeAndVpn,
  routeLab,
  startOfficeAndVpn,
} from './network.js';
import { inNetnsOf } from './nsenter.js';
import { proveReadiness } from './readiness.js';
import { describeWanted } from './rules.js';
import { KindLab, discoverTopology } from './running.js';
import { kubeconfigPath, ownsCluster, readKindState, writeKindState, type KindState } from './state.js';
import { node, type KindTopology } from './topology.js';
import { run } from './tools.js';
import { KIND_VERSION, NODE_IMAGE, NODE_IMAGE_TAG } from './versions.js';
import { waitSeconds } from './wait.js';

export interface KindUpOptions {
  prefix: string;
  // kube-proxy's mode in a cluster this creates (kind's networking.kubeProxyMode; default
  // iptables); a cluster reused must run it
  proxyMode?: ProxyMode;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  log: (line: string) => void;
}

export const WORKLOADS_IMAGE_PLACEHOLDER = 'NATSCOPE_LAB_IMAGE';

export async function workloadsManifest(image: string): Promise<string> {
  return (await readFile(manifestPath('workloads.yaml'), 'utf8')).replaceAll(WORKLOADS_IMAGE_PLACEHOLDER, image);
}

async function preflight(log: (line: string) => void): Promise<void> {
  const dockerVersion = await serverVersion();
  const kind = await kindVersion();
  if (`v${kind.replace(/^v/, '')}` !== KIND_VERSION)
    log(
      `kind v${kind.replace(/^v/, '')} is installed; the lab is made for ${KIND_VERSION} (its node image is pinned to it)`,
    );
  await run('kubectl', ['version', '--client', '-o', 'json']);
  // found by trying: entering a network namespace (even our own) needs root
  const probe = await run('nsenter', ['--target', String(process.pid), '--net', '--', 'true'], { reject: false });
  if (probe.exitCode !== 0) {
    throw new NatscopeError(
      `lab up --lab kind needs root: it enters the containers' network namespaces (${probe.stderr.trim().split('\n').pop() ?? 'nsenter failed'})`,
      {
        hint: 'sudo natscope lab up --lab kind',
      },
    );
  }
  if (!existsSync(helperPath()))
    throw new NatscopeError(`the lab's helper ${helperPath()} is not built`, { hint: 'npm run build' });
  log(`Docker ${dockerVersion}, kind ${kind.replace(/^v?/, 'v')}, kubectl found`);
}

// The readiness checks leave a vpn drop count and conntrack entries behind:
// a walkthrough should start from zero.
async function clearTraces(t: KindTopology): Promise<void> {
  if (t.vpn) await inNetnsOf(t.vpn.pid, ['iptables', '-t', 'filter', '-Z', 'FORWARD'], { reject: false });
  const pids = [t.vpn?.pid, ...t.nodes.map((n) => n.pid)].filter((p): p is number => Boolean(p));
  for (const pid of pids) await inNetnsOf(pid, ['conntrack', '-D', '--orig-src', t.plan.client], { reject: false });
}

export async function kindUp(options: KindUpOptions): Promise<LabStatus> {
  const log = options.log;
  const names = kindNames(options.prefix);
  const want: KubeProxyConfig = {
    mode: options.proxyMode ?? 'iptables',
    masqueradeAll: options.masqueradeAll,
    clusterCIDR: checkCidr(options.clusterCIDR),
  };
  const plan = officePlan(officeCidrFromEnv());
  const waitS = waitSeconds();

  log('[1/7] checking Docker, kind and kubectl');
  await preflight(log);

  // Refuse before creating anything: a cluster or names natscope did not make.
  let state = await readKindState(names.prefix);
  const exists = await clusterExists(names.cluster);
  if (exists && !ownsCluster(state, await containerByName(names.controlPlane))) {
    throw new NatscopeError(`a kind cluster named "${names.cluster}" exists and natscope did not create it`, {
      hint: `natscope leaves it alone: use another --prefix (the cluster is named after it), or delete it yourself: kind delete cluster --name ${names.cluster}`,
      exitCode: 2,
    });
  }
  const networks = await allNetworks();
  const clashes = await foreignNames(names, networks);
  if (clashes.length > 0) {
    throw new NatscopeError(
      `${clashes.join(' and ')} already exist${clashes.length === 1 ? 's' : ''} and natscope did not create ${clashes.length === 1 ? 'it' : 'them'}`,
      {
        hint: 'remove or rename them yourself, or use another --prefix',
        exitCode: 2,
      },
    );
  }
  checkOfficeCidr(plan, names, networks);

  const kubeconfig = kubeconfigPath(names.prefix);
  const previousOffice = state?.officeCIDR ?? null;
  if (exists) {
    state = { ...state!, officeCIDR: plan.cidr, complete: false };
    await writeKindState(state);
    log(`[2/7] reusing the kind cluster "${names.cluster}" that natscope created`);
    await startStoppedNodes(names.cluster, log);
    await writeKubeconfig(names.cluster, kubeconfig);
  } else {
    state = {
      version: 1,
      backend: 'kind',
      prefix: names.prefix,
      cluster: names.cluster,
      createdCluster: true,
      createStartedAt: new Date().toISOString(),
      controlPlaneId: null,
      officeCIDR: plan.cidr,
      image: null,
      complete: false,
      updatedAt: '',
    };
    // written first: whatever happens next, `lab down` knows what is natscope's
    await writeKindState(state);
    const node = await nodeImageToUse();
    log(
      `[2/7] creating kind cluster "${names.cluster}": 1 control plane + 2 workers, kube-proxy in ${want.mode} mode, ${node.image === NODE_IMAGE ? NODE_IMAGE_TAG : `${node.image} (loaded here; the pinned digest is not recorded locally)`} (${node.local ? 'the node image is here already' : 'minutes the first time: the node image is pulled'})`,
    );
    await createCluster(names.cluster, kubeconfig, node.image, want.mode, log);
    const cp = await containerByName(names.controlPlane);
    state = { ...state, controlPlaneId: cp?.id ?? null };
    await writeKindState(state);
  }
  try {
    return await stage({ names, plan, state, kubectl: new Kubectl(kubeconfig), want, waitS, previousOffice, log });
  } catch (error) {
    log(`the lab is not ready; what was built stays for inspection (sudo natscope lab down --lab kind removes it)`);
    throw error;
  }
}

// After a reboot kind's nodes normally come back by their restart policy;
// if they did not, start them (they are natscope's: ownership was checked).
async function startStoppedNodes(cluster: string, log: (line: string) => void): Promise<void> {
  const stopped = (await inspectContainers(await clusterNodes(cluster))).filter((c) => !c.running).map((c) => c.name);
  if (stopped.length === 0) return;
  log(`starting the stopped node containers ${stopped.join(', ')}`);
  await docker(['start', ...stopped]);
}

interface StageContext {
  names: KindNames;
  plan: OfficePlan;
  state: KindState;
  kubectl: Kubectl;
  want: KubeProxyConfig;
  waitS: number;
  previousOffice: string | null;
  log: (line: string) => void;
}

async function stage({
  names,
  plan,
  state,
  kubectl,
  want,
  waitS,
  previousOffice,
  log,
}: StageContext): Promise<LabStatus> {
  const nodesReady = await kubectl.waitReady(['nodes', '--all'], waitS);
  if (nodesReady.exitCode !== 0) {
    throw new NatscopeError(`the cluster's nodes did not become Ready within ${waitS} s`, {
      hint: `kubectl --kubeconfig ${kubectl.kubeconfig} get nodes; docker logs ${names.controlPlane}; NATSCOPE_KIND_WAIT_S=300 waits longer`,
      exitCode: 124,
    });
  }

  log('[3/7] the lab image (built here, loaded into the nodes: nothing is pulled)');
  const image = await ensureImage(log);
  await writeKindState({ ...state, image });
  await loadIntoCluster(image, names.cluster);

  log('[4/7] nginx on node1, mysql on node2, their ClusterIP Services');
  await kubectl.apply(await workloadsManifest(image));
  const podsReady = await kubectl.waitReady(['pod/nginx', 'pod/mysql'], waitS, 'default');
  if (podsReady.exitCode !== 0) {
    throw new NatscopeError(`the nginx and mysql pods did not become Ready within ${waitS} s`, {
      hint: `kubectl --kubeconfig ${kubectl.kubeconfig} describe pod nginx mysql`,
      exitCode: 124,
    });
  }

  log(
    `[5/7] office ${plan.client} and vpn ${plan.vpn} on ${plan.cidr} (a Docker network without NAT), routes as in the incident`,
  );
  const before = await discoverTopology(names, plan, kubectl);
  await removeOfficeAndVpn(names);
  await ensureOfficeNetwork(names, plan);
  await startOfficeAndVpn(names, plan, image, before.kindNetwork);
  const topology = await discoverTopology(names, plan, kubectl);
  await routeLab(topology, previousOffice);
  const n1 = node(topology, 'node1');
  const n2 = node(topology, 'node2');
  log(
    `node1 = ${n1.container} (${n1.ip}, pods ${n1.podCIDR}), node2 = ${n2.container} (${n2.ip}, pods ${n2.podCIDR}); vpn ${topology.vpn?.ip} routes ${SERVICE_SUBNET} to node1 only`,
  );

  log(
    `[6/7] kube-proxy (${want.mode} mode): ${describeWanted(want)} (clusterCIDR ${want.clusterCIDR ?? '""'}, ${want.mode}.masqueradeAll ${want.masqueradeAll}), checked on the nodes`,
  );
  const change = await applyKubeProxy(kubectl, want, {
    checkNodes: [n1.container, n2.container],
    nodeCount: topology.nodes.length,
    timeoutMs: waitS * 1000,
    log,
  });
  log(
    `kube-proxy ${change.restarted ? `restarted and re-synced in ${(change.syncMs / 1000).toFixed(1)} s` : 'already as wanted'}: ${want.mode === 'nftables' ? 'nft list table ip kube-proxy' : 'iptables-save'} on ${n1.container} and ${n2.container} agrees`,
  );

  log("[7/7] proving it from the pods' side");
  const lab = new KindLab(names, plan, kubectl, topology);
  const mysqlPod = topology.pods.find((p) => p.name === 'mysql');
  await proveReadiness(
    {
      request: (target) => lab.request(target, 2000),
      conntrack: (role) => lab.conntrack(role),
      node1Ip: n1.ip,
      mysqlPodIp: mysqlPod?.ip ?? '',
      officeIp: plan.client,
      officeCidr: plan.cidr,
      log,
    },
    want,
  );
  await clearTraces(topology);
  await writeKindState({ ...state, image, complete: true });
  return lab.status();
}
