// What a frontend can ask of an agent, and what the agent answers: one map
// from each command to its request and reply schemas, used by both ends.
// Commands go in as JSON lines with an id; the agent answers each with a
// `reply` event carrying the same id, and streams every other event it
// produces (kernel events, request outcomes, config changes) on the same
// channel. Across a process boundary both sides check what they read
// against these schemas, so neither end casts.

import { z } from 'zod';
import { amount, count, ipv4 } from '../events/fields.js';
import {
  KubeProxySyncSchema,
  LabStatusSchema,
  OBSERVATION_RESULTS,
  PingResultSchema,
  RequestEventSchema,
} from '../events/types.js';
import { RuleTraceSchema } from '../ruletrace/rulePath.js';
import { TracerSummarySchema } from '../tracer/flush.js';

// What to trace: probe families, every namespace or only the lab's, events
// per CPU and second reported whole (the rest counted; 0 = all), a file
// for bpftrace's own output, and how long bpftrace may take to attach (the
// agent's default if absent: a lab's long-lived agent serves many traces).
const TraceRequestSchema = z.object({
  probes: z.array(z.string()),
  allNetns: z.boolean().optional(),
  detail: z.number().optional(),
  rawLog: z.string().optional(),
  attachTimeoutMs: amount.optional(),
});
export type TraceRequest = z.infer<typeof TraceRequestSchema>;

const none = z.object({});

// The protocol's revision, which an agent says in its status. From revision
// 2 an agent refuses a request with a field it does not know (a newer
// natscope's); an agent without one (an older natscope's, such as the
// broker of a micro-VM lab left up across an upgrade) drops such a field
// without a word.
export const PROTOCOL_REVISION = 2;

// Fields a trace request gained before agents said their revision, each with
// the option that sets it: an agent that says none may drop them.
export const NEWER_TRACE_FIELDS: readonly (readonly [keyof TraceRequest, string])[] = [
  ['attachTimeoutMs', '--attach-timeout'],
];

export const PROTOCOL = {
  // the lab (null when the agent has none), where the agent runs, what it
  // traces, the addresses of the lab's load generator (whose events a
  // parser leaves out of the stream, counted: src/agent/leftOut.ts), and the
  // protocol's revision (none from an agent older than revisions)
  status: {
    request: none,
    reply: z.object({
      lab: LabStatusSchema.nullable(),
      where: z.enum(['native', 'micro-vm']),
      probes: z.array(z.string()),
      loadSources: z.array(ipv4).max(256),
      protocol: z.number().int().positive().optional(),
    }),
  },
  // one request from the office host: the request event it also streams
  request: { request: z.object({ target: z.string(), timeoutMs: amount }), reply: RequestEventSchema },
  ping: { request: z.object({ target: z.string() }), reply: PingResultSchema },
  // one request with the kernel's rule tracing on (trace --rules): its rule path
  ruleTrace: { request: z.object({ target: z.string(), timeoutMs: amount }), reply: RuleTraceSchema },
  // change kube-proxy's options on the nodes (a full re-sync)
  set: {
    request: z.object({ masqueradeAll: z.boolean().optional(), clusterCIDR: z.string().nullable().optional() }),
    reply: KubeProxySyncSchema,
  },
  rules: { request: z.object({ node: z.string() }), reply: OBSERVATION_RESULTS.rules },
  routes: { request: z.object({ host: z.string() }), reply: OBSERVATION_RESULTS.routes },
  conntrack: { request: z.object({ node: z.string() }), reply: OBSERVATION_RESULTS.conntrack },
  drops: { request: none, reply: OBSERVATION_RESULTS.drops },
  load: {
    request: z.object({ target: z.string(), seconds: amount, workers: count }),
    reply: OBSERVATION_RESULTS.load,
  },
  // start tracing: how long the probes took to attach
  trace: { request: TraceRequestSchema, reply: z.object({ attachMs: amount, probes: z.array(z.string()) }) },
  // stop tracing: what the tracer saw, and how many of the lab's load's
  // events were counted and left out of the stream (null: no tracer ran)
  untrace: { request: none, reply: TracerSummarySchema.extend({ loadLeftOut: count }).nullable() },
  // start bpftrace with its output on the micro-VM's trace ports, for a parser
  // on the host (src/agent/vmTracer.ts): the guest bpftrace's pid
  portTrace: {
    request: z.object({ probes: z.array(z.string()), detail: z.number().optional() }),
    reply: z.object({ pid: z.number().int() }),
  },
  // signal that bpftrace (SIGTERM: stop in order, printing its exit dump; SIGKILL: at once)
  portSignal: {
    request: z.object({ signal: z.enum(['SIGTERM', 'SIGKILL']) }),
    reply: z.object({ signalled: z.boolean() }),
  },
  // stop the tracer, and take the lab down if asked; the agent stops serving
  shutdown: { request: z.object({ labDown: z.boolean().optional() }), reply: z.object({ stopped: z.literal(true) }) },
} as const;

type Protocol = typeof PROTOCOL;
export type CommandName = keyof Protocol;
export const COMMAND_NAMES = Object.keys(PROTOCOL) as CommandName[];

// A request's fields (none: an empty object, not zod's "no key allowed").
type Fields<S> = S extends z.ZodObject<infer Shape> ? (keyof Shape extends never ? unknown : z.infer<S>) : never;

// A command as sent: its name and its request's fields.
export type CommandOf<K extends CommandName> = { cmd: K } & Fields<Protocol[K]['request']>;
export type Command = { [K in CommandName]: CommandOf<K> }[CommandName];
export type Reply<K extends CommandName> = z.infer<Protocol[K]['reply']>;
export type Envelope = Command & { id: number };

// A command of some name K as one of the union, to switch on: CommandOf<K>
// is a member of Command for every K, which TypeScript does not see for a
// generic K.
export function widen<K extends CommandName>(command: CommandOf<K>): Command {
  return command as Command;
}

const HEADER = z.object({ id: count, cmd: z.enum(COMMAND_NAMES as [CommandName, ...CommandName[]]) });

// A command whose id was read, refused: it is answered (ok: false) with why,
// so the client is not left waiting.
export class RefusedCommand extends Error {
  constructor(
    readonly id: number,
    message: string,
  ) {
    super(message);
  }
}

// A command line from a client, checked field by field; the error names what
// is wrong (a RefusedCommand once its id is known).
export function parseEnvelope(line: string): Envelope {
  const shown = JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`not a command (a JSON object with "id" and "cmd" was expected): ${shown}`);
  }
  const header = HEADER.safeParse(value);
  if (!header.success) throw new Error(`not a command (known: ${COMMAND_NAMES.join(', ')}): ${shown}`);
  const { id, cmd } = header.data;
  const request = PROTOCOL[cmd].request;
  // a field this natscope does not know is refused, not dropped: the client meant something by it
  const unknown = (typeof value === 'object' && value !== null ? Object.keys(value) : []).filter(
    (key) => key !== 'id' && key !== 'cmd' && !Object.hasOwn(request.shape, key),
  );
  if (unknown.length > 0)
    throw new RefusedCommand(
      id,
      `a ${cmd} command with ${unknown.map((k) => JSON.stringify(k.slice(0, 40))).join(', ')}, which this natscope's agent does not take (a newer natscope sent it)`,
    );
  try {
    return { ...checked(cmd, request, value, `${cmd} command`), cmd, id } as Envelope;
  } catch (error) {
    throw new RefusedCommand(id, error instanceof Error ? error.message : String(error));
  }
}

// A reply's result, checked against what the command promises.
export function parseReply<K extends CommandName>(cmd: K, result: unknown): Reply<K> {
  // TypeScript cannot follow PROTOCOL[K] to Reply<K> for a generic K; the schema is that very type
  return checked(cmd, PROTOCOL[cmd].reply, result, `reply to ${cmd}`) as Reply<K>;
}

function checked<S extends z.ZodType>(cmd: CommandName, schema: S, value: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Error(`a ${what} that is not what ${cmd} takes: ${issue?.path.join('.') || 'it'}: ${issue?.message ?? ''}`);
}
