// What the rule-tracing tests read from a rule path: one host's first
// packet one way, and a traced mysql request as `trace --rules --json`
// prints it (the micro-VM tests).

import { expect } from 'vitest';
import { type PacketPath, type RuleTrace, RuleTraceSchema } from '../../src/ruletrace/rulePath.js';
import { natscope } from '../cli.js';

export function packet(path: PacketPath[], host: string, direction: 'request' | 'reply'): PacketPath {
  const found = path.find((p) => p.host === host && p.direction === direction);
  if (!found) throw new Error(`no ${direction} packet traced on ${host}`);
  return found;
}

// One mysql request traced on the lab with this prefix (answered or not), its printed JSON checked against the schema.
export async function traceMysql(prefix: string): Promise<RuleTrace> {
  const run = await natscope(
    ['trace', '--rules', '--request', 'mysql', '--timeout', '3', '--prefix', prefix, '--json'],
    { timeout: 300_000 },
  );
  expect([0, 1], String(run.stderr)).toContain(run.exitCode);
  return RuleTraceSchema.parse(JSON.parse(String(run.stdout)));
}
