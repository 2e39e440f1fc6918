// Names network namespaces. The kernel reports a namespace by inode; the
// labs register their hosts (office, vpn, node1, …) so every event reads as
// a lab host. Sources: named namespaces (/run/netns/NAME, as `ip netns`
// makes them) and processes (/proc/PID/ns/net, e.g. a kind node's PID).

import { readdir, stat } from 'node:fs/promises';

export const NAMED_NETNS_DIR = '/run/netns';

export class NetnsResolver {
  private readonly names = new Map<number, string>();

  register(inode: number, name: string): void {
    this.names.set(inode, name);
  }

  // 0 means "the probe could not read a namespace"
  hostOf(inode: number): string {
    return this.names.get(inode) ?? '?';
  }

  has(inode: number): boolean {
    return this.names.has(inode);
  }

  entries(): [number, string][] {
    return [...this.names.entries()];
  }

  async registerPath(path: string, name: string): Promise<number> {
    const inode = await netnsInode(path);
    this.register(inode, name);
    return inode;
  }

  async registerPid(pid: number, name: string): Promise<number> {
    return this.registerPath(`/proc/${pid}/ns/net`, name);
  }

  // Registers named namespaces; `rename` maps a namespace name to a host name
  // (e.g. "natscope-node1" → "node1"), or returns null to skip it.
  async registerNamed(rename: (name: string) => string | null, dir = NAMED_NETNS_DIR): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    await Promise.all(
      entries.map(async (name) => {
        const host = rename(name);
        if (host === null) return;
        try {
          await this.registerPath(`${dir}/${name}`, host);
        } catch {
          // a namespace deleted while we looked: nothing to name
        }
      }),
    );
  }
}

// The inode that identifies a namespace: what the probes print as NETNS.
export async function netnsInode(path: string): Promise<number> {
  return (await stat(path)).ino;
}
