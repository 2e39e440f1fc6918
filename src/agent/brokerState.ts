// Where a micro-VM lab's broker keeps its files (state, socket, log), and
// its state record: written by the broker (src/agent/broker.ts), read by
// every command that looks for the lab (src/agent/brokerClient.ts).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { stateDir } from '../lab/netns/state.js';
import { ownerRunning, processStart } from '../util/owner.js';

export function brokerFiles(prefix: string) {
  return {
    state: join(stateDir(), `${prefix}vm.json`),
    socket: join(stateDir(), `${prefix}vm.sock`),
    log: join(stateDir(), `${prefix}vm.log`),
  };
}

const BrokerStateSchema = z.object({
  // below PID_MAX_LIMIT (2^22), the most pid_max can be
  pid: z
    .number()
    .int()
    .positive()
    .max(2 ** 22 - 1),
  // when the broker started (clock ticks after boot, /proc/PID/stat): a pid the kernel has since
  // given to another process is not taken for the broker; null if unknown (a record of an older natscope)
  start: z.number().int().nonnegative().nullable().default(null),
  // null while the VM boots
  socket: z.string().nullable(),
  startedAt: z.string(),
});
export type BrokerState = z.infer<typeof BrokerStateSchema>;

// The record of a broker process, as it or the command that started it writes it.
export function brokerStateText(pid: number, socket: string | null): string {
  const state: BrokerState = { pid, start: processStart(pid), socket, startedAt: new Date().toISOString() };
  return JSON.stringify(state);
}

// The broker's record, or null if there is none (or it is not one).
export async function readBroker(prefix: string): Promise<BrokerState | null> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(brokerFiles(prefix).state, 'utf8'));
  } catch {
    return null;
  }
  const parsed = BrokerStateSchema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

// The recorded broker still runs: its pid exists, is not a zombie, and started when it did.
export function brokerRunning(b: BrokerState): boolean {
  return ownerRunning({ pid: b.pid, start: b.start });
}

// A broker that is serving its socket (not one still booting its VM).
export async function brokerAlive(prefix: string): Promise<boolean> {
  const b = await readBroker(prefix);
  return b !== null && b.socket !== null && brokerRunning(b) && existsSync(b.socket);
}
