// Names for the network namespaces the tracer sees. kind nodes are
// containers on the VM's kernel, so one tracer sees every node; an event
// carries only a netns inode. Node, office and vpn containers: `docker
// inspect` gives the PID, /proc/PID/ns/net the inode. Pods live in network
// namespaces inside a node: the node's containerd knows their sandbox
// (crictl pods, crictl inspectp: the sandbox's netns path and PID in the
// node's view), and `stat -L` inside the node gives the same global inode.

import { z } from 'zod';
import type { NetnsResolver } from '../../tracer/netns.js';
import { parseJsonAs } from '../../util/json.js';
import { docker } from './docker.js';
import type { KindTopology } from './topology.js';

// The fields natscope reads of `crictl pods -o json` and `crictl inspectp -o json`.
const CrictlPodsSchema = z.object({
  items: z
    .array(
      z.object({
        id: z.string(),
        metadata: z.object({ uid: z.string().optional() }).optional(),
        state: z.string().optional(),
      }),
    )
    .nullish(),
});
const CrictlInspectSchema = z.object({
  info: z
    .object({
      pid: z.number().int().nonnegative().optional(),
      runtimeSpec: z
        .object({
          linux: z
            .object({ namespaces: z.array(z.object({ type: z.string(), path: z.string().optional() })).optional() })
            .optional(),
        })
        .optional(),
    })
    .optional(),
});
const HINT = "the node's crictl answered in a shape natscope does not know: sudo natscope doctor --lab kind";

// The running sandbox of a pod, by its Kubernetes UID.
export function sandboxOf(crictlPodsJson: string, uid: string): string | null {
  const items = parseJsonAs(CrictlPodsSchema, crictlPodsJson, 'crictl pods', HINT).items ?? [];
  return items.find((p) => p.metadata?.uid === uid && p.state === 'SANDBOX_READY')?.id ?? null;
}

// Where the sandbox's netns can be stat'ed inside the node: its bind mount
// (/var/run/netns/cni-…), else its process's /proc/PID/ns/net.
export function sandboxNetnsPath(crictlInspectJson: string): string | null {
  const info = parseJsonAs(CrictlInspectSchema, crictlInspectJson, 'crictl inspectp', HINT).info;
  const path = info?.runtimeSpec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
  if (path) return path;
  return info?.pid ? `/proc/${info.pid}/ns/net` : null;
}

async function podInode(node: string, uid: string): Promise<number | null> {
  const pods = await docker(['exec', node, 'crictl', 'pods', '-o', 'json'], { reject: false });
  if (pods.exitCode !== 0) return null;
  const id = sandboxOf(pods.stdout, uid);
  if (!id) return null;
  const inspect = await docker(['exec', node, 'crictl', 'inspectp', '-o', 'json', id], { reject: false });
  const path = inspect.exitCode === 0 ? sandboxNetnsPath(inspect.stdout) : null;
  if (!path) return null;
  const st = await docker(['exec', node, 'stat', '-L', '-c', '%i', path], { reject: false });
  const inode = Number(st.stdout.trim());
  return st.exitCode === 0 && Number.isInteger(inode) && inode > 0 ? inode : null;
}

// Registers every lab host and pod; returns name → inode for the status.
export async function registerLabHosts(t: KindTopology, resolver: NetnsResolver): Promise<Record<string, number>> {
  const inodes: Record<string, number> = {};
  const byPid = async (name: string, pid: number | undefined) => {
    if (!pid) return;
    try {
      inodes[name] = await resolver.registerPid(pid, name);
    } catch {
      // the container stopped meanwhile: its events stay unnamed
    }
  };
  for (const n of t.nodes) await byPid(n.role, n.pid);
  await byPid('office', t.office?.pid);
  await byPid('vpn', t.vpn?.pid);
  await Promise.all(
    t.pods.map(async (p) => {
      const inode = await podInode(p.container, p.uid);
      if (inode) {
        resolver.register(inode, p.name);
        inodes[p.name] = inode;
      }
    }),
  );
  return inodes;
}
