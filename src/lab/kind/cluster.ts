// The kind cluster itself: whether it exists, creating it from the lab's
// kind config with the pinned node image, its kubeconfig, deleting it.
// kind logs its progress on stderr (pkg/cmd/logger.go); `kind get clusters`
// prints one name per line on stdout.

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ProxyMode } from '../../events/types.js';
import { projectRoot } from '../../util/paths.js';
import { imageExists } from './docker.js';
import { run } from './tools.js';
import { NODE_IMAGE, NODE_IMAGE_TAG } from './versions.js';

export function manifestPath(file: string): string {
  return join(projectRoot(), 'src', 'lab', 'kind', 'manifests', file);
}

// The lab's kind config with kube-proxy's mode (kind's networking.kubeProxyMode,
// "iptables" or "nftables"; kind accepts nftables since v0.24).
export async function kindConfig(mode: ProxyMode = 'iptables'): Promise<string> {
  const text = await readFile(manifestPath('kind-config.yaml'), 'utf8');
  const line = /^ {2}kubeProxyMode: iptables$/m;
  if (!line.test(text)) throw new Error('kind-config.yaml has no "  kubeProxyMode: iptables" line to set');
  return text.replace(line, `  kubeProxyMode: ${mode}`);
}

export async function clusterExists(cluster: string): Promise<boolean> {
  const r = await run('kind', ['get', 'clusters']);
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .includes(cluster);
}

// Node container names: <cluster>-control-plane, <cluster>-worker, <cluster>-worker2.
export async function clusterNodes(cluster: string): Promise<string[]> {
  const r = await run('kind', ['get', 'nodes', '--name', cluster]);
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function kindVersion(): Promise<string> {
  return (await run('kind', ['version', '-q'])).stdout.trim();
}

// The node image reference for `kind create cluster --image`. kind pulls it
// unless `docker inspect --type=image` finds it here. An offline bundle's
// docker load leaves the image's tag but not the registry's digest, so the
// tag is used when only the tag is here (provision.sh --bundle loaded it
// from a file it had checked against the bundle's SHA256SUMS).
export async function nodeImageToUse(): Promise<{ image: string; local: boolean }> {
  if (await imageExists(NODE_IMAGE)) return { image: NODE_IMAGE, local: true };
  if (await imageExists(NODE_IMAGE_TAG)) return { image: NODE_IMAGE_TAG, local: true };
  return { image: NODE_IMAGE, local: false };
}

export async function createCluster(
  cluster: string,
  kubeconfig: string,
  image: string,
  mode: ProxyMode,
  log: (line: string) => void,
): Promise<void> {
  await mkdir(dirname(kubeconfig), { recursive: true });
  await run(
    'kind',
    [
      'create',
      'cluster',
      '--name',
      cluster,
      '--image',
      image,
      '--config',
      '-',
      '--kubeconfig',
      kubeconfig,
      '--wait',
      '5m',
    ],
    {
      input: await kindConfig(mode),
      onStderrLine: (line) => log(`kind: ${line}`),
    },
  );
}

// `kind get kubeconfig` prints it; natscope keeps its own copy.
export async function writeKubeconfig(cluster: string, kubeconfig: string): Promise<void> {
  const r = await run('kind', ['get', 'kubeconfig', '--name', cluster]);
  await mkdir(dirname(kubeconfig), { recursive: true });
  await writeFile(kubeconfig, r.stdout, { mode: 0o600 });
}

export async function deleteCluster(cluster: string): Promise<void> {
  await run('kind', ['delete', 'cluster', '--name', cluster]);
}
