// One request from inside the cluster, for `cluster diagnose`: an ephemeral
// pod (`kubectl run --rm -i`) that opens one TCP connection to an address
// and port and says whether it was answered. Its command is a fixed text
// run by busybox (the image must have it: busybox, alpine); the address and
// port are its arguments, never part of the text. Labelled as natscope's
// with an expiry like the node pods, so a run killed while it waits leaves
// nothing the next run does not sweep.

import { randomBytes } from 'node:crypto';
import { NatscopeError } from '../errors.js';
import { safeLine } from '../util/terminal.js';
import type { Kubectl } from './kubectl.js';
import { EXPIRES_ANNOTATION, MANAGED_BY, OWNER_LABEL } from './nodePods.js';

export const DEFAULT_CLIENT_IMAGE = 'busybox:1.36';

// seconds nc waits for the connection; the whole command is ended a little after
export const CONNECT_TIMEOUT_S = 4;

// busybox nc connects (-w: the connect timeout; its -p does not choose the
// port a client connects from, so the connection is known by its time), sends nothing (stdin is
// empty) and reads until the peer closes; `timeout` ends a peer that keeps
// the connection open (exit 143: it was answered). A failed connect is nc's
// exit 1. The status is the one line natscope reads back.
// Its own addresses come first: the client's address, to tell its connection from others.
export const CLIENT_SCRIPT = `busybox ip -4 -o addr show scope global | busybox sed -n 's/.* inet \\([0-9.]*\\)\\/.*/natscope-client-ip:\\1/p'; busybox timeout ${CONNECT_TIMEOUT_S + 2} busybox nc -w ${CONNECT_TIMEOUT_S} "$1" "$2" </dev/null >/dev/null 2>&1; echo "natscope-client:$?"`;

export interface ClientResult {
  answered: boolean;
  // nc's exit status as the pod printed it
  status: number;
  // the pod's own IPv4 addresses, as it printed them
  addresses: string[];
  // when the pod was asked to run and when it ended (this machine's monotonic ns)
  startNs: number;
  endNs: number;
}

// kubectl's arguments for the ephemeral pod.
export function clientPodArgs(options: {
  name: string;
  namespace: string;
  image: string;
  owner: string;
  ip: string;
  port: number;
  expires: Date;
}): string[] {
  const overrides = {
    apiVersion: 'v1',
    metadata: { annotations: { [EXPIRES_ANNOTATION]: options.expires.toISOString() } },
    spec: { automountServiceAccountToken: false, activeDeadlineSeconds: 120 },
  };
  return [
    'run',
    options.name,
    '-n',
    options.namespace,
    `--image=${options.image}`,
    '--restart=Never',
    '--rm',
    '-i',
    '--quiet',
    `--labels=${MANAGED_BY}=natscope,${OWNER_LABEL}=${options.owner}`,
    `--overrides=${JSON.stringify(overrides)}`,
    '--command',
    '--',
    'busybox',
    'sh',
    '-c',
    CLIENT_SCRIPT,
    'natscope-client',
    options.ip,
    String(options.port),
  ];
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

// What the pod printed: its status line, or null if it never ran the command.
export function parseClientOutput(text: string): number | null {
  const m = /^natscope-client:(\d{1,3})$/m.exec(text);
  return m ? Number(m[1]) : null;
}

// The addresses the pod printed (checked: the output is the cluster's).
export function parseClientAddresses(text: string): string[] {
  return [...text.matchAll(/^natscope-client-ip:(\S+)$/gm)].map((m) => m[1]!).filter((a) => IPV4.test(a));
}

// Runs the pod to its end; kubectl deletes it (--rm).
export async function requestFromPod(
  kubectl: Kubectl,
  options: { namespace: string; image: string; ip: string; port: number },
): Promise<ClientResult> {
  const owner = randomBytes(5).toString('hex');
  const name = `natscope-client-${owner}`;
  const startNs = Number(process.hrtime.bigint());
  const args = clientPodArgs({ ...options, name, owner, expires: new Date(Date.now() + 120_000) });
  const out = await kubectl.run(args, {
    what: 'kubectl run (the request pod)',
    timeoutMs: 150_000,
  });
  const endNs = Number(process.hrtime.bigint());
  const status = parseClientOutput(out);
  if (status === null) {
    throw new NatscopeError(
      `the request pod did not report (it printed: ${safeLine(out.trim().split('\n').pop() ?? '').slice(0, 120)})`,
      {
        hint: 'its image needs busybox (sh, ip, sed, nc, timeout): --client-image busybox:1.36, or one your nodes can pull',
      },
    );
  }
  // 0: the peer closed; 124/143: it kept the connection open (timeout ended nc): both answered
  return {
    answered: status === 0 || status === 124 || status === 143,
    status,
    addresses: parseClientAddresses(out),
    startNs,
    endNs,
  };
}
