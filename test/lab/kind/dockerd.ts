// A private Docker engine for the kind lab's root tests, started and stopped
// by the test. It runs inside a network namespace of its own, so its
// bridges, iptables rules and sysctls never touch the host's namespace, and
// a mount namespace of its own with a tmpfs over /run: dockerd puts plugin
// sockets in /run/docker/plugins whatever --exec-root says (moby hard-codes
// it, for the 108-byte socket path limit), and containerd's shims put theirs
// in /run/containerd/s; both now land in the tmpfs, which goes with the
// engine. Its data, state, socket, pidfile, config and key are under one
// temp folder. Stopping it removes everything it made: its processes (found
// by PID and by that folder in their command line), the namespace, the folder.

import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { isAlive } from '../../../src/util/process.js';
import { killIfRunning } from '../../processes.js';

export const DOCKER_NETNS = 'natscope-dockertest';

// Run by sh inside the engine's own mount namespace, then exec'ing dockerd
// with its arguments ("$@"): a fresh /run that only the engine sees.
const PRIVATE_RUN = 'mount -t tmpfs -o mode=0755 natscope-dockertest /run && exec "$@"';

export interface TestDockerd {
  dir: string;
  env: { DOCKER_HOST: string; DOCKER_CONFIG: string };
  pid: number;
  // iptables-save of the engine's own namespace (the "VM's root namespace" in the workshop)
  hostRules(table: string): Promise<string>;
  stop(): Promise<void>;
}

// Processes whose command line names our folder: the engine's containerd and shims.
function ownProcesses(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export async function startDockerd(): Promise<TestDockerd> {
  if (existsSync(`/run/netns/${DOCKER_NETNS}`)) {
    throw new Error(
      `network namespace ${DOCKER_NETNS} exists (a previous run was killed?): ip netns del ${DOCKER_NETNS}`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'natscope-dockerd-'));
  // the engine's identity key would otherwise land in /etc/docker
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') }));
  await execa('ip', ['netns', 'add', DOCKER_NETNS]);
  await execa('ip', ['-n', DOCKER_NETNS, 'link', 'set', 'lo', 'up']);
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  // nsenter --net, not `ip netns exec`: the latter remounts /sys, hiding the cgroups dockerd needs;
  // nsenter and unshare exec, sh execs dockerd: the child's pid is dockerd's
  const child = spawn(
    'nsenter',
    [
      `--net=/run/netns/${DOCKER_NETNS}`,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      PRIVATE_RUN,
      'sh',
      'dockerd',
      '--config-file',
      join(dir, 'daemon.json'),
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'dockerd.pid'),
      '-H',
      `unix://${join(dir, 'docker.sock')}`,
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  child.unref();
  const pid = child.pid!;
  const env = { DOCKER_HOST: `unix://${join(dir, 'docker.sock')}`, DOCKER_CONFIG: join(dir, 'client') };

  const stop = async () => {
    const docker = (args: string[]) => execa('docker', args, { env, reject: false });
    if (isAlive(pid)) {
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '--force', ...ids]);
      killIfRunning(pid, 'SIGTERM');
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(200);
      killIfRunning(pid);
    }
    for (let i = 0; i < 25 && ownProcesses(dir).length; i++) await sleep(200);
    for (const p of ownProcesses(dir)) killIfRunning(p);
    // the engine's mounts (overlays, its /run) lived in its own mount namespace, gone with its last process
    await execa('ip', ['netns', 'del', DOCKER_NETNS], { reject: false });
    rmSync(dir, { recursive: true, force: true });
  };

  for (let i = 0; i < 150; i++) {
    const r = await execa('docker', ['version', '--format', '{{.Server.Version}}'], { env, reject: false });
    if (r.exitCode === 0) {
      return {
        dir,
        env,
        pid,
        hostRules: async (table) =>
          (await execa('ip', ['netns', 'exec', DOCKER_NETNS, 'iptables-save', '-t', table])).stdout,
        stop,
      };
    }
    if (!isAlive(pid)) break;
    await sleep(200);
  }
  const tail = readFileSync(join(dir, 'dockerd.log'), 'utf8').trim().split('\n').slice(-3).join('\n');
  await stop();
  throw new Error(`dockerd did not start:\n${tail}`);
}
