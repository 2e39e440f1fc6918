// The lab's record of itself, written before anything is built so that
// `lab down` can undo a half-built lab (natscope killed mid-`up`) and never
// touches namespaces the lab did not create.

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeProxyConfig } from '../../events/types.js';

export interface LabState {
  version: 1;
  backend: 'netns';
  prefix: string;
  namespaces: string[];
  complete: boolean;
  kubeProxy: KubeProxyConfig;
  iptables: 'nft' | 'legacy';
  createdAt: string;
}

export function stateDir(): string {
  return process.env.NATSCOPE_STATE_DIR ?? '/run/natscope';
}

export function statePath(prefix: string): string {
  return join(stateDir(), `${prefix}lab.json`);
}

export async function readState(prefix: string): Promise<LabState | null> {
  try {
    return JSON.parse(await readFile(statePath(prefix), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

export async function writeState(state: LabState): Promise<void> {
  await mkdir(stateDir(), { recursive: true, mode: 0o755 });
  const path = statePath(state.prefix);
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

export async function removeState(prefix: string): Promise<void> {
  await rm(statePath(prefix), { force: true });
}
