// natscope lab up|down|status|request|load|ping|set|rules|routes|conntrack:
// the lab, driven from the command line. Each subcommand reaches the lab
// through its control (src/agent/control.ts) and an agent client: in this
// process for a native lab, or over a socket to the micro-VM that holds it.

import { NatscopeError } from '../errors.js';
import type { IptablesBackend, LabBackend, LabStatus, ProxyMode } from '../events/types.js';
import { checkCidr } from '../lab/clusterCidr.js';
import { progress } from '../util/progress.js';
import { requireRoot } from '../util/root.js';
import type { AgentClient } from '../agent/client.js';
import { labControl, type LabPlace } from '../agent/control.js';

// Which lab a subcommand is about.
export interface LabCommonOptions extends LabPlace {
  lab: LabBackend;
}

// A client for the lab that is up, closed when `use` is done with it.
async function withLab<T>(options: LabCommonOptions, use: (client: AgentClient) => Promise<T>): Promise<T> {
  const client = await (await labControl(options.lab)).connect(options);
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

export async function up(
  options: LabCommonOptions & {
    masqueradeAll: boolean;
    clusterCIDR: string | null;
    proxyMode: ProxyMode;
    // the netns lab's iptables (default: this host's)
    iptables?: IptablesBackend;
    json: boolean;
  },
): Promise<number> {
  checkCidr(options.clusterCIDR);
  if (options.iptables !== undefined && options.lab === 'kind')
    throw new NatscopeError("--iptables is the netns lab's: a kind node image chooses its iptables itself", {
      hint: 'leave out --iptables with --lab kind',
      exitCode: 2,
    });
  requireRoot('lab up');
  const step = progress('lab up');
  const started = performance.now();
  const { status, where } = await (await labControl(options.lab)).up({ ...options, log: step.log });
  const ms = Math.round(performance.now() - started);
  if (options.json) process.stdout.write(`${JSON.stringify(status)}\n`);
  else {
    step.done(`lab up in ${(ms / 1000).toFixed(1)} s`);
    printStatus(status, where);
    process.stdout.write(
      `\nNext: natscope lab request mysql${options.lab === 'kind' ? ' --lab kind' : ''}   (and nginx, pod/mysql, pod/nginx)\n`,
    );
  }
  return 0;
}

export async function down(options: LabCommonOptions): Promise<number> {
  requireRoot('lab down');
  const removed = await (await labControl(options.lab)).down(options);
  process.stdout.write(removed.length ? `removed ${removed.join(', ')}\n` : 'no lab was up\n');
  return 0;
}

export async function status(options: LabCommonOptions & { json: boolean }): Promise<number> {
  requireRoot('lab status');
  return withLab(options, async (client) => {
    const s = await client.call({ cmd: 'status' });
    if (!s.lab) throw new NatscopeError(`no lab is up (prefix ${options.prefix})`, { hint: 'sudo natscope lab up' });
    if (options.json) process.stdout.write(`${JSON.stringify(s.lab)}\n`);
    else printStatus(s.lab, s.where);
    return 0;
  });
}

export async function request(
  options: LabCommonOptions & { target: string; timeoutS: number; json: boolean },
): Promise<number> {
  requireRoot('lab request');
  return withLab(options, async (client) => {
    const r = await client.call({
      cmd: 'request',
      target: options.target,
      timeoutMs: Math.round(options.timeoutS * 1000),
    });
    if (options.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      const what = `${r.target} (${r.dst}:${r.dport}) from ${r.src ?? '?'}:${r.sport ?? '?'}`;
      if (r.outcome === 'answered')
        process.stdout.write(
          `${what}: answered in ${r.latencyMs} ms by pod ${r.pod} on ${r.node}; the pod saw the client as ${r.peer}\n`,
        );
      else
        process.stdout.write(
          `${what}: ${r.outcome === 'timeout' ? `no answer within ${options.timeoutS} s (timed out)` : r.outcome}\n`,
        );
    }
    return r.outcome === 'answered' ? 0 : 1;
  });
}

export async function load(
  options: LabCommonOptions & { target: string; seconds: number; workers: number; json: boolean },
): Promise<number> {
  requireRoot('lab load');
  return withLab(options, async (client) => {
    const r = await client.call({
      cmd: 'load',
      target: options.target,
      seconds: options.seconds,
      workers: options.workers,
    });
    if (options.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else
      process.stdout.write(
        `${r.target}: ${r.rate.toFixed(0)} connections/s (${r.connections} in ${r.seconds.toFixed(1)} s, ${r.failed} failed)\n`,
      );
    return r.failed === 0 || r.connections > 0 ? 0 : 1;
  });
}

export async function ping(options: LabCommonOptions & { target: string; json: boolean }): Promise<number> {
  requireRoot('lab ping');
  return withLab(options, async (client) => {
    const r = await client.call({ cmd: 'ping', target: options.target });
    if (options.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else
      process.stdout.write(
        `ping ${r.target} (${r.ip}): ${r.answered ? 'answered' : 'no answer'}${r.detail ? ` (${r.detail})` : ''}\n`,
      );
    return r.answered ? 0 : 1;
  });
}

export async function set(options: LabCommonOptions & { key: string; value: string; json: boolean }): Promise<number> {
  requireRoot('lab set');
  let change: { masqueradeAll?: boolean; clusterCIDR?: string | null };
  if (options.key === 'masquerade-all') {
    if (options.value !== 'on' && options.value !== 'off')
      throw new NatscopeError(`masquerade-all takes on or off, not "${options.value}"`, {
        hint: 'natscope lab set masquerade-all on',
        exitCode: 2,
      });
    change = { masqueradeAll: options.value === 'on' };
  } else if (options.key === 'cluster-cidr') {
    change = { clusterCIDR: options.value === 'none' ? null : checkCidr(options.value) };
  } else {
    throw new NatscopeError(`unknown setting "${options.key}"`, {
      hint: 'settings: masquerade-all on|off, cluster-cidr <cidr>|none',
      exitCode: 2,
    });
  }
  return withLab(options, async (client) => {
    const r = await client.call({ cmd: 'set', ...change });
    if (options.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else
      process.stdout.write(
        `kube-proxy re-synced on node1 and node2 in ${r.syncMs} ms: masqueradeAll=${r.kubeProxy.masqueradeAll}, clusterCIDR=${r.kubeProxy.clusterCIDR ?? 'none'}\n`,
      );
    return 0;
  });
}

export async function rules(options: LabCommonOptions & { node: string }): Promise<number> {
  requireRoot('lab rules');
  return withLab(options, async (client) => {
    process.stdout.write(await client.call({ cmd: 'rules', node: options.node }));
    return 0;
  });
}

export async function routes(options: LabCommonOptions & { host: string }): Promise<number> {
  requireRoot('lab routes');
  return withLab(options, async (client) => {
    process.stdout.write(await client.call({ cmd: 'routes', host: options.host }));
    return 0;
  });
}

export async function conntrack(options: LabCommonOptions & { node: string; json: boolean }): Promise<number> {
  requireRoot('lab conntrack');
  return withLab(options, async (client) => {
    const entries = await client.call({ cmd: 'conntrack', node: options.node });
    if (options.json) process.stdout.write(`${JSON.stringify(entries)}\n`);
    else for (const e of entries) process.stdout.write(`${e.line}\n`);
    return 0;
  });
}

export function printStatus(s: LabStatus, where = 'native'): void {
  const w = (line: string) => process.stdout.write(`${line}\n`);
  w(`lab: ${s.backend} (${where}), prefix ${s.prefix}, ${s.up ? 'up' : 'DOWN'}`);
  w(
    `kube-proxy: mode ${s.kubeProxy.mode}, masqueradeAll=${s.kubeProxy.masqueradeAll}, clusterCIDR=${s.kubeProxy.clusterCIDR ?? 'none'}`,
  );
  w('hosts:');
  for (const [name, h] of Object.entries(s.hosts)) w(`  ${name.padEnd(7)} ${h.ip.padEnd(15)} netns ${h.netns}`);
  w('services:');
  for (const svc of s.services) {
    const eps = svc.endpoints.map((e) => `${e.ip}:${e.port} on ${e.node}`).join(', ');
    w(`  ${`${svc.namespace}/${svc.name}`.padEnd(14)} ${`${svc.clusterIP}:${svc.port}`.padEnd(18)} → ${eps}`);
  }
}
