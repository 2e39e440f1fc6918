#!/usr/bin/env node
// kubectl-natscope: natscope as a kubectl plugin (`kubectl natscope
// trace|tui|diagnose …` is `natscope cluster trace|tui|diagnose …`). It runs
// natscope (with its own Node flags) as a child with the mapped arguments
// (src/cli/kubectlPlugin.ts) on this terminal, and exits as it does.

import { constants } from 'node:os';
import { execa } from 'execa';
import { pluginCall } from './cli/kubectlPlugin.js';
import { NatscopeError } from './errors.js';
import { natscopeCommand } from './util/runtime.js';
import { safeText } from './util/terminal.js';

let call: ReturnType<typeof pluginCall>;
try {
  call = pluginCall(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof NatscopeError)) throw error;
  process.stderr.write(`natscope: ${safeText(error.message)}\n`);
  if (error.hint) process.stderr.write(`  fix: ${safeText(error.hint)}\n`);
  process.exit(error.exitCode);
}

const [node, ...flags] = natscopeCommand();
const child = execa(node!, [...flags, ...call.argv], {
  stdio: 'inherit',
  reject: false,
  env: call.env,
});
// A Ctrl-C reaches natscope from the terminal itself (one process group);
// this process waits for natscope to clean up. Signals sent to this process
// alone are passed on.
process.on('SIGINT', () => undefined);
for (const signal of ['SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
const result = await child;
const signalNumber = Object.entries(constants.signals).find(([name]) => name === result.signal)?.[1] ?? 1;
process.exit(result.exitCode ?? 128 + signalNumber);
