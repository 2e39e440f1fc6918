// The kind cluster itself: whether it exists, creating it from the lab's
// kind config with the pinned node image, its kubeconfig, deleting it.
// kind logs its progress on stderr (pkg/cmd/logger.go); `kind get clusters`
// prints one name per line on stdout.

import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { projectRoot } from '../../util/paths.js';
import { run } from './tools.js';
import { NODE_IMAGE } from './versions.js';

export function manifestPath(file: string): string {
  return join(projectRoot(), 'src', 'lab', 'kind', 'manifests', file);
}

export async function kindConfig(): Promise<string> {
  return readFile(manifestPath('kind-config.yaml'), 'utf8');
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

export async function createCluster(cluster: string, kubeconfig: string, log: (line: string) => void): Promise<void> {
  await mkdir(dirname(kubeconfig), { recursive: true });
  await run(
    'kind',
    [
      'create',
      'cluster',
      '--name',
      cluster,
      '--image',
      NODE_IMAGE,
      '--config',
      '-',
      '--kubeconfig',
      kubeconfig,
      '--wait',
      '5m',
    ],
    {
      input: await kindConfig(),
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
