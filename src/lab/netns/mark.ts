// natscope's mark on every namespace a lab creates: the alias of the
// namespace's own loopback, "natscope-lab:<prefix>". Only root inside the
// namespace can set it, a namespace someone else made does not carry it,
// and it goes with the namespace. `lab down` deletes a namespace only if it
// has the lab's name AND this mark, whatever a state file says.
// The mark is set by the same `ip -batch` process that adds the namespaces,
// once they are all added: that process runs on to its end even if natscope
// is killed (and holds the lab's lock until then), so every namespace
// natscope made is marked before anyone can take the lab down.

import { execa } from 'execa';

export function markOf(prefix: string): string {
  return `natscope-lab:${prefix}`;
}

// `ip -batch` lines that add the namespaces, then mark them.
export function addMarkedLines(prefix: string, namespaces: string[]): string[] {
  return [
    ...namespaces.map((ns) => `netns add ${ns}`),
    ...namespaces.map((ns) => `netns exec ${ns} ip link set lo alias ${markOf(prefix)}`),
  ];
}

// Which of these namespaces carry the lab's mark.
export async function markedNamespaces(prefix: string, namespaces: string[]): Promise<Set<string>> {
  const marks = await Promise.all(namespaces.map((ns) => loopbackAlias(ns)));
  return new Set(namespaces.filter((_, i) => marks[i] === markOf(prefix)));
}

async function loopbackAlias(ns: string): Promise<string | null> {
  const result = await execa('ip', ['-j', '-n', ns, 'link', 'show', 'dev', 'lo'], { reject: false });
  if (result.exitCode !== 0) return null;
  try {
    const links: unknown = JSON.parse(String(result.stdout));
    if (!Array.isArray(links)) return null;
    const first: unknown = links[0];
    if (typeof first !== 'object' || first === null || !('ifalias' in first)) return null;
    return typeof first.ifalias === 'string' ? first.ifalias : null;
  } catch {
    return null;
  }
}
