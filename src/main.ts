#!/usr/bin/env -S node --max-semi-space-size=32
// The entry point: the only top-level catch. User errors print one line
// (and a hint line) and exit non-zero; everything started is cleaned up
// first, whatever happened.

import { CommanderError } from 'commander';
import { run } from './cli/program.js';
import { EXIT, NatscopeError } from './errors.js';
import { installSignalHandlers, interruptExitCode, runAllCleanups } from './util/cleanup.js';
import { safeText } from './util/terminal.js';

// Whatever escapes (a stream error, a rejected promise nobody awaited)
// still ends the same way: one report, every cleanup, an exit code.
let failing = false;
const fatal = (error: unknown) => {
  if (failing) return;
  failing = true;
  const code = report(error);
  void runAllCleanups().finally(() => process.exit(code));
};
installSignalHandlers();
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);
// a reader that went away (natscope trace --json | head) ends the run quietly
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') void runAllCleanups().finally(() => process.exit(0));
  else fatal(error);
});

let code: number;
try {
  code = await run(process.argv);
} catch (error) {
  // what failed because of a Ctrl-C is not an error to report
  code = interruptExitCode() ?? report(error);
}
await runAllCleanups();
process.exit(interruptExitCode() ?? code);

function report(error: unknown): number {
  // commander printed it already; a usage error is exit 2 like every other usage error
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT.usage;
  // a message may quote a recording's line or a kernel string: shown escaped, never acted on
  if (error instanceof NatscopeError) {
    process.stderr.write(`natscope: ${safeText(error.message)}\n`);
    if (error.hint) process.stderr.write(`  fix: ${safeText(error.hint)}\n`);
    if (process.env.NATSCOPE_DEBUG && error.cause)
      process.stderr.write(`${safeText(String((error.cause instanceof Error && error.cause.stack) || error.cause))}\n`);
    return error.exitCode;
  }
  process.stderr.write(
    `natscope: internal error: ${safeText((error instanceof Error && error.stack) || String(error))}\n`,
  );
  process.stderr.write('  this is a bug in natscope; please report it with the command you ran\n');
  return 70;
}
