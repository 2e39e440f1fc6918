// Runs the programs the kind lab drives (docker, kind, kubectl, nsenter),
// found on PATH, with argument arrays only. Turns the failures a user can
// fix (a program missing, the Docker daemon down) into one-line errors.

import { execa } from 'execa';
import { forEachLine } from '../../util/lines.js';
import { errnoOf, NatscopeError } from '../../errors.js';
import { KIND_VERSION, KUBERNETES_MINOR } from './versions.js';

export interface RunOptions {
  input?: string;
  // false: hand back a failed result instead of throwing
  reject?: boolean;
  timeoutMs?: number;
  // the working directory (default: natscope's own)
  cwd?: string;
  // progress: each line the program writes to stderr (kind logs there)
  onStderrLine?: (line: string) => void;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const PROVISION = 'sudo bash scripts/provision/provision.sh installs it';

export const INSTALL_HINTS: Record<string, string> = {
  docker: `install Docker (${PROVISION}; or apt-get install docker.io)`,
  kind: `install kind ${KIND_VERSION} (${PROVISION}; or https://kind.sigs.k8s.io/docs/user/quick-start/#installation)`,
  kubectl: `install kubectl ${KUBERNETES_MINOR} (${PROVISION}; or https://kubernetes.io/docs/tasks/tools/)`,
  nsenter: 'apt-get install util-linux',
};

// The Docker CLI's words when it cannot reach the daemon (docker/cli, and
// the Go HTTP client underneath).
const DAEMON_DOWN =
  /Cannot connect to the Docker daemon|Is the docker daemon running|dial unix [^:]+: connect: (no such file|connection refused)/;
const DAEMON_DENIED = /permission denied while trying to connect to the Docker daemon/;

export function dockerUnreachable(stderr: string): NatscopeError | null {
  if (DAEMON_DENIED.test(stderr)) {
    return new NatscopeError('no permission to use Docker', {
      hint: 'run natscope with sudo (or add yourself to the docker group)',
    });
  }
  if (DAEMON_DOWN.test(stderr)) {
    return new NatscopeError('Docker is not running (the Docker daemon cannot be reached)', {
      hint: 'sudo systemctl start docker (then check: docker info)',
    });
  }
  return null;
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop()?.trim() ?? '';
}

export async function run(tool: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = execa(tool, args, {
    reject: false,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    timeout: options.timeoutMs,
    cwd: options.cwd,
    stripFinalNewline: false,
  });
  if (options.onStderrLine && child.stderr) forEachLine(child.stderr, options.onStderrLine);
  const result = await child;
  if (errnoOf(result) === 'ENOENT') {
    throw new NatscopeError(`${tool} not found on PATH`, {
      hint: INSTALL_HINTS[tool] ?? `install ${tool}`,
      exitCode: 127,
    });
  }
  const out: RunResult = {
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    exitCode: result.exitCode ?? -1,
  };
  if (result.timedOut) {
    throw new NatscopeError(
      `${tool} ${args.slice(0, 3).join(' ')} did not finish within ${Math.round((options.timeoutMs ?? 0) / 1000)} s`,
      { exitCode: 124 },
    );
  }
  if (out.exitCode !== 0) {
    if (tool === 'docker' || tool === 'kind') {
      const down = dockerUnreachable(out.stderr);
      if (down) throw down;
    }
    if (options.reject !== false) {
      throw new NatscopeError(
        `${tool} ${args.slice(0, 3).join(' ')} failed (exit ${out.exitCode}): ${lastLine(out.stderr) || lastLine(out.stdout)}`,
      );
    }
  }
  return out;
}
