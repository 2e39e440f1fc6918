// What the lab's request tool (natscope-net request) printed, as a request
// event: both labs run the same tool from their office host.

import { z } from 'zod';
import { base, type RequestEvent, RequestOutcomeSchema } from '../events/types.js';
import { parseJsonAs } from '../util/json.js';
import type { Target } from './lab.js';

// What natscope-net request prints (src/lab/helper/natscope-net.c): one JSON object.
const HelperAnswerSchema = z.object({
  outcome: RequestOutcomeSchema,
  latencyMs: z.number().nonnegative(),
  // "192.168.10.10:41234", or "" when no connection was made
  local: z.string(),
  reply: z.string(),
});

// "mysql pod=mysql node=node2 peer=192.168.10.10:41234"
export function parseReply(reply: string): { pod: string | null; node: string | null; peer: string | null } {
  const get = (key: string) => new RegExp(`\\b${key}=(\\S+)`).exec(reply)?.[1] ?? null;
  return { pod: get('pod'), node: get('node'), peer: get('peer') };
}

function splitAddress(text: string): [string | null, number | null] {
  const i = text.lastIndexOf(':');
  if (i < 0) return [null, null];
  return [text.slice(0, i), Number(text.slice(i + 1))];
}

// `nodeName` maps the node a pod reports (its Kubernetes node name) to the lab's name for it.
export function requestEvent(
  stdout: string,
  target: Target,
  officeNetns: number,
  nodeName: (reported: string | null) => string | null = (n) => n,
): RequestEvent {
  const out = parseJsonAs(HelperAnswerSchema, stdout, "the lab's request tool's answer", 'rebuild it: npm run build');
  const [src, sport] = splitAddress(out.local);
  const fields = parseReply(out.reply);
  return {
    ...base('request', 'office', officeNetns),
    target: target.name,
    via: target.via,
    src,
    sport,
    dst: target.ip,
    dport: target.port,
    outcome: out.outcome,
    latencyMs: out.latencyMs,
    pod: fields.pod,
    node: nodeName(fields.node),
    peer: fields.peer,
    detail: out.reply ? out.reply.trim() : null,
  };
}
