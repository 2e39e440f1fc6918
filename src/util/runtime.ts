// How natscope's own Node.js processes run: the CLI's shebang, the npm
// scripts and every natscope a natscope starts (agent, broker, micro-VM)
// pass these V8 flags (a unit test keeps them all in step).
//
// --max-semi-space-size=32: the flow tracker keeps a sliding window of
// recent events (the latest 2000 flows, up to 32 events each). With V8's
// default young generation those survive two scavenges, are promoted, and
// die in the old generation, and the collector takes most of the time.
// With 32 MB semi-spaces they die young: npm run bench prints the pipeline
// both ways.

import { cliEntry } from './paths.js';

export const NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=32']);

// argv for running natscope itself in a child process
export function natscopeCommand(): string[] {
  return [process.execPath, ...NODE_FLAGS, cliEntry()];
}
