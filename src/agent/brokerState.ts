// Where a micro-VM lab's broker keeps its files (state, socket, log), and
// its state record: written by the broker (src/agent/broker.ts), read by
// every command that looks for the lab (src/agent/brokerClient.ts).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '../lab/netns/state.js';
import { isAlive } from '../util/process.js';

export function brokerFiles(prefix: string) {
  return {
    state: join(stateDir(), `${prefix}vm.json`),
    socket: join(stateDir(), `${prefix}vm.sock`),
    log: join(stateDir(), `${prefix}vm.log`),
  };
}

export interface BrokerState {
  pid: number;
  // null while the VM boots
  socket: string | null;
  startedAt: string;
}

export function brokerStateText(state: BrokerState): string {
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
  if (typeof value !== 'object' || value === null) return null;
  const { pid, socket, startedAt } = value as Record<string, unknown>;
  if (!Number.isSafeInteger(pid) || typeof pid !== 'number' || pid <= 0) return null;
  if (socket !== null && typeof socket !== 'string') return null;
  if (typeof startedAt !== 'string') return null;
  return { pid, socket, startedAt };
}

// A broker that is serving its socket (not one still booting its VM).
export async function brokerAlive(prefix: string): Promise<boolean> {
  const b = await readBroker(prefix);
  return b !== null && b.socket !== null && isAlive(b.pid) && existsSync(b.socket);
}
