#!/usr/bin/env node
// The entry point: the only top-level catch. User errors print one line
// (and a hint line) and exit non-zero; everything started is cleaned up
// first, whatever happened.

import { CommanderError } from 'commander';
import { run } from './cli.js';
import { NatscopeError } from './errors.js';
import { runAllCleanups } from './util/cleanup.js';

let code: number;
try {
  code = await run(process.argv);
} catch (error) {
  code = report(error);
}
await runAllCleanups();
process.exit(code);

function report(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode; // commander already printed it
  if (error instanceof NatscopeError) {
    process.stderr.write(`natscope: ${error.message}\n`);
    if (error.hint) process.stderr.write(`  fix: ${error.hint}\n`);
    if (process.env.NATSCOPE_DEBUG && error.cause) process.stderr.write(`${String((error.cause as Error).stack ?? error.cause)}\n`);
    return error.exitCode;
  }
  process.stderr.write(`natscope: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
  process.stderr.write('  this is a bug in natscope; please report it with the command you ran\n');
  return 70;
}
