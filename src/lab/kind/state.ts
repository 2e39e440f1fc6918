// The kind lab's record of what natscope created, written before anything
// is created. It lives in /var/lib/natscope, not /run: a kind cluster
// survives a reboot of the VM, and so must the proof that natscope made it.
// `lab down` deletes a cluster only when this record says natscope created
// it and the cluster's control-plane container is the one it created.

import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ensurePrivateDir, removeFileSafely, writeFileSafely } from '../../util/safeFiles.js';

export const KindStateSchema = z.object({
  version: z.literal(1),
  backend: z.literal('kind'),
  prefix: z.string(),
  cluster: z.string(),
  // natscope ran `kind create cluster` for this cluster
  createdCluster: z.boolean(),
  // when it started doing so, and the control-plane container it got
  createStartedAt: z.string().nullable(),
  controlPlaneId: z.string().nullable(),
  officeCIDR: z.string(),
  image: z.string().nullable(),
  // the last `lab up` finished (cluster staged, readiness proven)
  complete: z.boolean(),
  updatedAt: z.string(),
});
export type KindState = z.infer<typeof KindStateSchema>;

export function kindStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.NATSCOPE_STATE_DIR ?? '/var/lib/natscope';
}

export function kindStatePath(prefix: string): string {
  return join(kindStateDir(), `${prefix}kind.json`);
}

// The lab's own kubeconfig: kind writes it here instead of ~/.kube/config.
export function kubeconfigPath(prefix: string): string {
  return join(kindStateDir(), `${prefix}kind.kubeconfig`);
}

export async function readKindState(prefix: string): Promise<KindState | null> {
  try {
    // a record natscope cannot read as its own is not proof that natscope made anything
    const state = KindStateSchema.safeParse(JSON.parse(await readFile(kindStatePath(prefix), 'utf8')));
    return state.success ? state.data : null;
  } catch {
    return null;
  }
}

// In a folder only root can change, through an O_EXCL|O_NOFOLLOW temp file (src/util/safeFiles.ts).
function ensureKindStateDir(): string {
  return ensurePrivateDir(kindStateDir(), { mode: 0o755, what: 'the state directory', setting: 'NATSCOPE_STATE_DIR' });
}

export async function writeKindState(state: KindState): Promise<void> {
  const dir = ensureKindStateDir();
  const content = `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`;
  await writeFileSafely(dir, `${state.prefix}kind.json`, content);
}

// The record, the temp files of writers killed before their rename, the
// kubeconfig; only from a folder that passes the same checks as a write.
export async function removeKindState(prefix: string): Promise<void> {
  if (!existsSync(kindStateDir())) return;
  const dir = ensureKindStateDir();
  await removeFileSafely(dir, `${prefix}kind.json`);
  await rm(kubeconfigPath(prefix), { force: true });
}

// Whether the cluster's control-plane container is the one natscope created:
// the same container ID, or, if natscope was stopped before it could note
// the ID, a container created after natscope started `kind create cluster`.
export function ownsCluster(state: KindState | null, controlPlane: { id: string; created: string } | null): boolean {
  if (!state?.createdCluster || !controlPlane) return false;
  if (state.controlPlaneId) return state.controlPlaneId === controlPlane.id;
  if (!state.createStartedAt) return false;
  const created = Date.parse(controlPlane.created);
  return Number.isFinite(created) && created >= Date.parse(state.createStartedAt) - 1000;
}
