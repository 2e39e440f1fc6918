// The lab's record of itself, written before anything is built so that
// `lab down` can undo a half-built lab (natscope killed mid-`up`). It lives
// in a directory only root can change (refused otherwise), is written
// through an O_EXCL|O_NOFOLLOW temp file, and is read strictly: a file that
// is not exactly what natscope writes is refused, never acted on. Even so,
// `lab down` deletes only namespaces that carry natscope's own mark
// (mark.ts): the state says what a lab was, the mark what natscope made.

import { join } from 'node:path';
import { NatscopeError } from '../../errors.js';
import { IPTABLES_BACKENDS, type IptablesBackend, type KubeProxyConfig, PROXY_MODES } from '../../events/types.js';
import { stateDir } from '../../util/paths.js';
import { ensurePrivateDir, readFileSafely, removeFileSafely, writeFileSafely } from '../../util/safeFiles.js';
import { clusterCidrProblem } from '../clusterCidr.js';
import { isValidPrefix } from '../prefix.js';
import { labNamespaces } from './topology.js';

export { stateDir };

export interface LabState {
  version: 1;
  backend: 'netns';
  prefix: string;
  namespaces: string[];
  complete: boolean;
  kubeProxy: KubeProxyConfig;
  iptables: IptablesBackend;
  createdAt: string;
}

// The state directory, created if missing; refused unless only root can change it.
export function ensureStateDir(): string {
  return ensurePrivateDir(stateDir(), { mode: 0o755, what: 'the state directory', setting: 'NATSCOPE_STATE_DIR' });
}

function stateName(prefix: string): string {
  return `${prefix}lab.json`;
}

export function statePath(prefix: string): string {
  return join(stateDir(), stateName(prefix));
}

export class ForgedState extends NatscopeError {}

type Fields = { [key: string]: unknown };

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Exactly the shape writeState writes, for this prefix; anything else is refused with its first fault.
export function parseState(text: string, prefix: string, path = statePath(prefix)): LabState {
  const refuse = (why: string) =>
    new ForgedState(`the lab state ${path} is not one natscope wrote: ${why}`, {
      hint: `remove it (rm ${path}); natscope lab down then finds the lab's namespaces by natscope's mark`,
    });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw refuse('it is not JSON');
  }
  if (!isFields(value)) throw refuse('it is not a JSON object');
  const keys = ['version', 'backend', 'prefix', 'namespaces', 'complete', 'kubeProxy', 'iptables', 'createdAt'];
  const extra = Object.keys(value).find((k) => !keys.includes(k));
  if (extra !== undefined) throw refuse(`unexpected field "${extra.slice(0, 40)}"`);
  if (value.version !== 1) throw refuse('version is not 1');
  if (value.backend !== 'netns') throw refuse('backend is not "netns"');
  if (typeof value.prefix !== 'string' || !isValidPrefix(value.prefix)) throw refuse('prefix is not a valid prefix');
  if (value.prefix !== prefix) throw refuse(`it is for prefix "${value.prefix}", not "${prefix}"`);
  const expected = labNamespaces(prefix);
  const namespaces = value.namespaces;
  if (!Array.isArray(namespaces) || namespaces.length !== expected.length)
    throw refuse(`namespaces is not the lab's ${expected.length} namespaces`);
  for (const [i, n] of namespaces.entries()) {
    if (n !== expected[i]) throw refuse(`namespaces[${i}] is not ${expected[i]}`);
  }
  if (typeof value.complete !== 'boolean') throw refuse('complete is not true or false');
  const kp = value.kubeProxy;
  if (!isFields(kp) || Object.keys(kp).some((k) => !['mode', 'masqueradeAll', 'clusterCIDR'].includes(k)))
    throw refuse('kubeProxy is not {mode, masqueradeAll, clusterCIDR}');
  const mode = PROXY_MODES.find((m) => m === kp.mode);
  if (mode === undefined) throw refuse('kubeProxy.mode is not "iptables" or "nftables"');
  if (typeof kp.masqueradeAll !== 'boolean') throw refuse('kubeProxy.masqueradeAll is not true or false');
  const cidr = kp.clusterCIDR;
  if (cidr !== null && (typeof cidr !== 'string' || clusterCidrProblem(cidr) !== null))
    throw refuse('kubeProxy.clusterCIDR is neither null nor a CIDR natscope accepts');
  const iptables = IPTABLES_BACKENDS.find((b) => b === value.iptables);
  if (iptables === undefined) throw refuse(`iptables is not ${IPTABLES_BACKENDS.map((b) => `"${b}"`).join(' or ')}`);
  if (typeof value.createdAt !== 'string' || !Number.isFinite(Date.parse(value.createdAt)))
    throw refuse('createdAt is not a date');
  return {
    version: 1,
    backend: 'netns',
    prefix,
    namespaces: expected,
    complete: value.complete,
    kubeProxy: { mode, masqueradeAll: kp.masqueradeAll, clusterCIDR: cidr },
    iptables,
    createdAt: value.createdAt,
  };
}

// The lab's state, or null if there is none; a state natscope did not write is refused.
export async function readState(prefix: string): Promise<LabState | null> {
  const text = await readFileSafely(statePath(prefix), 64 * 1024);
  return text === null ? null : parseState(text, prefix);
}

export async function writeState(state: LabState): Promise<void> {
  const dir = ensureStateDir();
  await writeFileSafely(dir, stateName(state.prefix), `${JSON.stringify(state, null, 2)}\n`);
}

export async function removeState(prefix: string): Promise<void> {
  await removeFileSafely(stateDir(), stateName(prefix));
}
