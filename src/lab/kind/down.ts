// `natscope lab down --lab kind`: removes what natscope created, and only
// that: containers and networks carrying natscope's owner label, the kind
// cluster if natscope's record says it created that very cluster, the lab
// image, natscope's files. A cluster natscope did not create is left alone.

import { NatscopeError } from '../../errors.js';
import { clusterExists, deleteCluster } from './cluster.js';
import { allNetworks, containerByName, containersLabelled, docker, removeContainers, serverVersion } from './docker.js';
import { DEFAULT_PREFIX } from '../prefix.js';
import { OWNER_LABEL, kindNames } from './names.js';
import { ownsCluster, readKindState, removeKindState } from './state.js';

export interface KindDownOptions {
  prefix?: string;
  log?: (line: string) => void;
}

export async function kindDown(options: KindDownOptions = {}): Promise<string[]> {
  const names = kindNames(options.prefix ?? DEFAULT_PREFIX);
  const log = options.log ?? ((line: string) => process.stderr.write(`natscope: ${line}\n`));
  const state = await readKindState(names.prefix);
  await serverVersion();
  const removed: string[] = [];

  const containers = await containersLabelled(OWNER_LABEL, names.cluster);
  if (containers.length > 0) {
    await removeContainers(containers);
    removed.push(...containers.map((c) => `container ${c}`));
  }
  for (const n of await allNetworks()) {
    if (n.labels[OWNER_LABEL] === names.cluster) {
      await docker(['network', 'rm', n.name]);
      removed.push(`network ${n.name}`);
    }
  }

  if (await clusterExistsFor(names.cluster, Boolean(state?.createdCluster))) {
    if (ownsCluster(state, await containerByName(names.controlPlane))) {
      log(`deleting kind cluster "${names.cluster}"`);
      await deleteCluster(names.cluster);
      removed.push(`kind cluster ${names.cluster}`);
    } else {
      log(`left kind cluster "${names.cluster}" alone: natscope did not create it`);
    }
  }

  // the image goes only when no container uses it any more (docker refuses otherwise)
  if (state?.image) {
    const r = await docker(['image', 'rm', state.image], { reject: false });
    if (r.exitCode === 0) removed.push(`image ${state.image}`);
  }

  // with or without a readable record: a killed `lab up` may have left only its temp file
  await removeKindState(names.prefix);
  return removed;
}

// Without kind nothing can be checked; that only matters if natscope made a cluster.
async function clusterExistsFor(cluster: string, natscopeCreatedOne: boolean): Promise<boolean> {
  try {
    return await clusterExists(cluster);
  } catch (error) {
    if (error instanceof NatscopeError && error.exitCode === 127 && !natscopeCreatedOne) return false;
    throw error;
  }
}
