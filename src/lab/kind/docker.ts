// The Docker side of the kind lab: what `docker` reports about containers
// and networks (parsed from `docker inspect` JSON, the Engine API's
// ContainerInspect/NetworkInspect shapes), and the few commands that
// create and remove what natscope owns.

import { z } from 'zod';
import { NatscopeError } from '../../errors.js';
import { parseJsonAs } from '../../util/json.js';
import { run, type RunResult } from './tools.js';

export interface ContainerInfo {
  id: string;
  name: string;
  created: string;
  running: boolean;
  // in the host's PID namespace: /proc/PID/ns/net is the container's netns
  pid: number;
  labels: Record<string, string>;
  // the image reference it was created from (kind passes its --image)
  image: string;
  // network name → IPv4 address
  networks: Record<string, string>;
}

export interface NetworkInfo {
  id: string;
  name: string;
  subnets: string[];
  labels: Record<string, string>;
  options: Record<string, string>;
}

// The fields natscope reads of `docker inspect` (the Engine API's
// ContainerInspect and NetworkInspect); Docker writes null for an empty map.
const labelsSchema = z.record(z.string(), z.string()).nullish();
const InspectContainerSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  Created: z.string(),
  State: z.object({ Running: z.boolean().optional(), Pid: z.number().int().nonnegative().optional() }).optional(),
  Config: z.object({ Labels: labelsSchema, Image: z.string().optional() }).optional(),
  NetworkSettings: z
    .object({ Networks: z.record(z.string(), z.object({ IPAddress: z.string().optional() })).nullish() })
    .optional(),
});
const InspectNetworkSchema = z.object({
  Id: z.string(),
  Name: z.string(),
  IPAM: z.object({ Config: z.array(z.object({ Subnet: z.string().optional() })).nullish() }).optional(),
  Labels: labelsSchema,
  Options: labelsSchema,
});

const HINT = 'check that `docker` is the Docker CLI and its engine answers: sudo docker info';

export function parseContainers(json: string): ContainerInfo[] {
  const list = parseJsonAs(z.array(InspectContainerSchema), json || '[]', "docker inspect's containers", HINT);
  return list.map((c) => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    created: c.Created,
    running: Boolean(c.State?.Running),
    pid: c.State?.Pid ?? 0,
    labels: c.Config?.Labels ?? {},
    image: c.Config?.Image ?? '',
    networks: Object.fromEntries(
      Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => [name, n.IPAddress ?? '']),
    ),
  }));
}

export function parseNetworks(json: string): NetworkInfo[] {
  const list = parseJsonAs(z.array(InspectNetworkSchema), json || '[]', "docker inspect's networks", HINT);
  return list.map((n) => ({
    id: n.Id,
    name: n.Name,
    // IPv4 only: kind's network also carries an IPv6 ULA subnet
    subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? '').filter((s) => s.includes('.')),
    labels: n.Labels ?? {},
    options: n.Options ?? {},
  }));
}

export function docker(args: string[], options: { input?: string; reject?: boolean } = {}): Promise<RunResult> {
  return run('docker', args, options);
}

export async function serverVersion(): Promise<string> {
  return (await docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
}

// Containers by name; the ones that do not exist are simply absent.
export async function inspectContainers(names: string[]): Promise<ContainerInfo[]> {
  if (names.length === 0) return [];
  // `docker container inspect` prints what it found and exits 1 for the rest
  const r = await docker(['container', 'inspect', ...names], { reject: false });
  const found = r.stdout.trim() ? parseContainers(r.stdout) : [];
  if (r.exitCode !== 0 && found.length === 0 && !/No such (container|object)/i.test(r.stderr)) {
    throw new NatscopeError(`docker container inspect failed: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  }
  return found;
}

export async function containerByName(name: string): Promise<ContainerInfo | null> {
  return (await inspectContainers([name]))[0] ?? null;
}

// Names of all containers (running or not) carrying a label, e.g. natscope's owner label.
export async function containersLabelled(label: string, value: string): Promise<string[]> {
  const r = await docker(['ps', '-a', '--filter', `label=${label}=${value}`, '--format', '{{.Names}}']);
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function allNetworks(): Promise<NetworkInfo[]> {
  const ids = (await docker(['network', 'ls', '--quiet'])).stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) return [];
  return parseNetworks((await docker(['network', 'inspect', ...ids])).stdout);
}

export async function imageExists(image: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', image], { reject: false })).exitCode === 0;
}

export async function removeContainers(names: string[]): Promise<void> {
  if (names.length > 0) await docker(['rm', '--force', ...names]);
}
