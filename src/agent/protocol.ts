// What a frontend can ask of an agent. Commands go in as JSON lines with an
// id; the agent answers each with a `reply` event carrying the same id, and
// streams every other event it produces (kernel events, request outcomes,
// config changes) on the same channel.

// What to trace: probe families, every namespace or only the lab's, events
// per CPU and second reported whole (the rest counted; 0 = all), and a file
// for bpftrace's own output.
export interface TraceRequest {
  probes: string[];
  allNetns?: boolean;
  detail?: number;
  rawLog?: string;
}

export type Command =
  | { cmd: 'status' }
  | { cmd: 'request'; target: string; timeoutMs: number }
  | { cmd: 'ping'; target: string }
  | { cmd: 'set'; masqueradeAll?: boolean; clusterCIDR?: string | null }
  | { cmd: 'rules'; node: string }
  | { cmd: 'routes'; host: string }
  | { cmd: 'conntrack'; node: string }
  | { cmd: 'drops' }
  | { cmd: 'load'; target: string; seconds: number; workers: number }
  | ({ cmd: 'trace' } & TraceRequest)
  | { cmd: 'untrace' }
  | { cmd: 'shutdown'; labDown?: boolean };

export type CommandName = Command['cmd'];
export type Envelope = Command & { id: number };

const NAMES: CommandName[] = [
  'status',
  'request',
  'ping',
  'set',
  'rules',
  'routes',
  'conntrack',
  'drops',
  'load',
  'trace',
  'untrace',
  'shutdown',
];

export function parseEnvelope(line: string): Envelope {
  const shown = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
  let value: Partial<Envelope>;
  try {
    value = JSON.parse(line) as Partial<Envelope>;
  } catch {
    throw new Error(`not a command (a JSON object with "id" and "cmd" was expected): ${shown}`);
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof value.id !== 'number' ||
    !NAMES.includes(value.cmd as CommandName)
  ) {
    throw new Error(`not a command (known: ${NAMES.join(', ')}): ${shown}`);
  }
  return value as Envelope;
}
