// Where the kernel side runs: natively (kernel function probes attach on
// this kernel) or in a throw-away micro-VM (they do not). `--vm auto` picks
// native when a kfunc attaches here, else the micro-VM.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { NatscopeError } from '../errors.js';
import { ensureStateDir, stateDir } from '../lab/netns/state.js';
import { writeFileSafely } from '../util/safeFiles.js';
import { functionProbesAttach, type AttachResult } from '../tracer/capabilities.js';
import { vmPrerequisites } from '../vm/prereqs.js';

// What --vm accepts: auto, on (always the micro-VM), off (always here).
export const PLACEMENTS = ['auto', 'on', 'off'] as const;
export type Placement = (typeof PLACEMENTS)[number];

// Where an agent runs.
export type Where = 'native' | 'micro-vm';

// What the kernel allows does not change within a boot: remember the answer.
async function functionProbesHere(): Promise<AttachResult> {
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const cache = join(stateDir(), 'function-probes.json');
  const saved = await readFile(cache, 'utf8').then(parseSaved, () => null);
  if (saved && bootId && saved.bootId === bootId) return saved.result;
  const result = await functionProbesAttach();
  // only a success is remembered: a failure may be mended (bpftrace installed) before the next boot
  if (result.ok) {
    try {
      await writeFileSafely(ensureStateDir(), 'function-probes.json', JSON.stringify({ ...result, bootId }));
    } catch {
      // not remembered: asked again next time
    }
  }
  return result;
}

// The remembered answer, as natscope wrote it: only a success, with the boot it holds for.
const SavedAnswerSchema = z.object({ ok: z.literal(true), detail: z.string(), bootId: z.string() });

// The cached answer, if it has the shape natscope wrote.
export function parseSaved(text: string): { bootId: string; result: AttachResult } | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const saved = SavedAnswerSchema.safeParse(value);
  if (!saved.success) return null;
  const { ok, detail, bootId } = saved.data;
  return { bootId, result: { ok, detail } };
}

export async function decidePlacement(
  vm: Placement,
  functionProbesNeeded: boolean,
  log: (line: string) => void,
): Promise<Where> {
  if (process.env.NATSCOPE_IN_VM) return 'native'; // already inside the micro-VM
  if (vm === 'off') return 'native';
  if (vm === 'on') return 'micro-vm';
  if (!functionProbesNeeded) return 'native';
  if (process.getuid?.() !== 0) throw new NatscopeError('tracing needs root', { hint: 'run with sudo' });
  const probes = await functionProbesHere();
  if (probes.ok) return 'native';
  const vm_ = await vmPrerequisites();
  if (vm_.ready) {
    log(
      `kernel function probes cannot attach on this kernel (${probes.detail}): running the lab and the probes in the micro-VM`,
    );
    return 'micro-vm';
  }
  const missing = vm_.checks.find((c) => !c.ok && c.name !== 'vm-kernel');
  throw new NatscopeError(
    `kernel function probes cannot attach here (${probes.detail}) and the micro-VM is not available: ${missing?.detail ?? 'not set up'}`,
    {
      hint: `${missing?.fix ?? 'sudo natscope vm setup'}; or trace drops only, which needs only a tracepoint: --probes drop`,
    },
  );
}
