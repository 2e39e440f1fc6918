// The command registry, nothing else: each command is spelled (options,
// help, examples) in src/cli/<name>.ts and done by src/commands/<name>.ts,
// which is imported only when it runs (so `natscope --help` stays fast and
// needs nothing installed).

import { Command, type OptionValues } from '@commander-js/extra-typings';
import { safeLine } from '../util/terminal.js';
import { natscopeVersion } from '../util/version.js';
import { registerCluster } from './cluster.js';
import type { SetExit } from './common.js';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerLab } from './lab.js';
import { registerPlumbing } from './plumbing.js';
import { registerReplay } from './replay.js';
import { registerTrace } from './trace.js';
import { registerTui } from './tui.js';
import { registerVm } from './vm.js';
import { registerWorkshop } from './workshop.js';

export async function run(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  await program.parseAsync(argv);
  return exitCode;
}

export function buildProgram(setExit: SetExit): Command {
  const program = new Command('natscope')
    .description('See how Kubernetes Service NAT really behaves in the kernel: DNAT, SNAT, and where replies die.')
    .version(natscopeVersion())
    .configureOutput({ outputError: (text, write) => write(usageLine(text)) })
    .exitOverride()
    .addHelpText(
      'after',
      `
Try the following:
  $ sudo natscope demo                  # the incident, step by step, proved by kernel events
  $ sudo natscope doctor                # what this machine can trace
  $ sudo natscope lab up && sudo natscope lab request mysql
  $ sudo natscope trace --probes drop   # tracepoints only: works where function probes are locked down
  $ natscope replay test/fixtures/recordings/incident.jsonl`,
    );
  registerDoctor(program, setExit);
  registerTrace(program, setExit);
  registerCluster(program, setExit);
  registerReplay(program, setExit);
  registerTui(program, setExit);
  registerDemo(program, setExit);
  registerLab(program, setExit);
  registerPlumbing(program, setExit);
  registerVm(program, setExit);
  registerWorkshop(program, setExit);
  addUsageFixes(program, 'natscope');
  return program;
}

// commander's own errors (an unknown option, a missing argument, a value an
// option's parser refused) in natscope's form: one `natscope: …` line, its
// suggestion ("Did you mean --json?") folded in, the typed text escaped.
export function usageLine(text: string): string {
  const [first = '', ...rest] = text.trim().split('\n');
  const message = first.replace(/^error: /, '');
  const more = rest.map((l) => l.trim().replace(/^\((.*)\)$/, '$1')).filter((l) => l !== '');
  const hint = more.length > 0 ? `; ${more.join('; ').replace(/^Did/, 'did')}` : '';
  return `natscope: ${safeLine(message + hint)}\n`;
}

// The fix line after a usage error: where the command's options are listed.
function addUsageFixes(command: Command<unknown[], OptionValues>, name: string): void {
  command.showHelpAfterError(
    command.commands.length > 0 && name === 'natscope'
      ? '  fix: natscope --help lists the commands'
      : `  fix: ${name} --help lists its ${command.commands.length > 0 ? 'commands' : 'options and arguments'}`,
  );
  for (const sub of command.commands) addUsageFixes(sub, `${name} ${sub.name()}`);
}
