// kubectl natscope …: how kubectl's plugin words map onto natscope's. kubectl
// runs `kubectl-natscope` from the PATH with every argument after
// "natscope" (kubectl refuses its own flags before a plugin's name, so
// `--context` comes after it and is natscope's own `--context`, passed
// through as given). `--kubeconfig`, which natscope's commands do not take,
// becomes KUBECONFIG for the kubectl natscope runs. Nothing here is ever
// given to a shell: the result is an argument array.

import { NatscopeError } from '../errors.js';
import { safeLine } from '../util/terminal.js';

// The plugin's words, each `natscope cluster WORD`.
export const PLUGIN_COMMANDS = ['trace', 'tui', 'diagnose'] as const;

export interface PluginCall {
  // natscope's arguments
  argv: string[];
  // set for the natscope run (and so for the kubectl it runs)
  env: Record<string, string>;
}

const isCommand = (word: string): word is (typeof PLUGIN_COMMANDS)[number] =>
  (PLUGIN_COMMANDS as readonly string[]).includes(word);

export function pluginCall(args: readonly string[]): PluginCall {
  const [first, ...rest] = args;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    return { argv: ['cluster', '--help'], env: {} };
  }
  if (first === '--version' || first === 'version') return { argv: ['--version'], env: {} };
  if (!isCommand(first)) {
    throw new NatscopeError(`kubectl natscope has no command "${safeLine(first).slice(0, 40)}"`, {
      hint: `kubectl natscope ${PLUGIN_COMMANDS.join('|')} … (kubectl natscope --help)`,
      exitCode: 2,
    });
  }
  const env: Record<string, string> = {};
  const argv: string[] = ['cluster', first];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    // after "--" everything is an operand, as commander reads it
    if (arg === '--') {
      argv.push(...rest.slice(i));
      break;
    }
    if (arg === '--kubeconfig' || arg.startsWith('--kubeconfig=')) {
      const path = arg === '--kubeconfig' ? rest[++i] : arg.slice('--kubeconfig='.length);
      if (!path || safeLine(path) !== path) {
        throw new NatscopeError('--kubeconfig needs the path of a kubeconfig file', {
          hint: 'kubectl natscope trace --kubeconfig ~/.kube/other-config',
          exitCode: 2,
        });
      }
      env.KUBECONFIG = path;
      continue;
    }
    argv.push(arg);
  }
  return { argv, env };
}
