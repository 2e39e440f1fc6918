// kube-proxy's nftables table as `nft list table ip kube-proxy` prints it
// (what `natscope lab rules node1` shows in nftables mode, and what a kind
// node holds), read into its chains' rules and its sets' and maps' elements:
// the walkthrough quotes the chains a packet to a ClusterIP passes and
// compares a listing before and after a change, chain by chain; the kind lab
// finds the Service's masquerade rule. The text comes from a node or a
// recording: anything not recognised is left out, never trusted.

export interface NftListing {
  // chain name → its rules, in order (a base chain's "type … hook …" line and comments left out)
  chains: Map<string, string[]>;
  // set or map name → its elements, as listed
  elements: Map<string, string[]>;
}

const CHAIN_OPEN = /^chain (\S+) \{$/;
const CONTAINER_OPEN = /^(?:set|map) (\S+) \{$/;

// Splits a set's or map's element list at its top-level commas ("a . b : goto c, d . e : goto f").
function splitElements(text: string): string[] {
  return text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
}

export function parseNftListing(text: string): NftListing {
  const chains = new Map<string, string[]>();
  const elements = new Map<string, string[]>();
  let chain: string | null = null;
  let container: string | null = null;
  // an element list that spans lines, up to its closing brace
  let pending: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (pending !== null && container !== null) {
      pending += ` ${line}`;
      if (line.endsWith('}')) {
        elements.set(container, splitElements(pending.slice(0, -1)));
        pending = null;
      }
      continue;
    }
    const opensChain = CHAIN_OPEN.exec(line);
    const opensContainer = CONTAINER_OPEN.exec(line);
    if (opensChain) {
      chain = opensChain[1]!;
      container = null;
      chains.set(chain, []);
    } else if (opensContainer) {
      container = opensContainer[1]!;
      chain = null;
      elements.set(container, []);
    } else if (line === '}') {
      chain = null;
      container = null;
    } else if (chain !== null) {
      if (/^type \S+ hook /.test(line) || /^comment "/.test(line)) continue;
      chains.get(chain)!.push(line);
    } else if (container !== null) {
      const m = /^elements = \{ (.*)$/.exec(line);
      if (!m) continue;
      if (m[1]!.endsWith('}')) elements.set(container, splitElements(m[1]!.slice(0, -1)));
      else pending = m[1]!;
    }
  }
  return { chains, elements };
}

// The chain kube-proxy names after a Service port: service-<hash>-<namespace>/<name>/<protocol>/<port name>.
export function serviceChainOf(listing: NftListing, namespace: string, name: string): string | null {
  const start = `-${namespace}/${name}/`;
  return [...listing.chains.keys()].find((c) => /^service-[A-Z0-9]+-/.test(c) && c.includes(start)) ?? null;
}

// The Service port's endpoint chains: endpoint-<hash>-<namespace>/<name>/<protocol>/<port name>__<ip>/<port>.
export function endpointChainsOf(listing: NftListing, namespace: string, name: string): string[] {
  const start = `-${namespace}/${name}/`;
  return [...listing.chains.keys()].filter((c) => /^endpoint-[A-Z0-9]+-/.test(c) && c.includes(start));
}

export interface ChainChange {
  chain: string;
  rule: string;
}

// The rules a second listing adds and removes, chain by chain.
export function listingChanges(
  before: NftListing,
  after: NftListing,
): { added: ChainChange[]; removed: ChainChange[] } {
  const diff = (a: NftListing, b: NftListing): ChainChange[] =>
    [...a.chains.entries()].flatMap(([chain, rules]) => {
      const other = new Set(b.chains.get(chain) ?? []);
      return rules.filter((r) => !other.has(r)).map((rule) => ({ chain, rule }));
    });
  return { added: diff(after, before), removed: diff(before, after) };
}

// A chain as nft prints it, indented for the walkthrough.
export function chainText(listing: NftListing, chain: string, indent = '    '): string[] {
  const rules = listing.chains.get(chain);
  if (!rules) return [];
  return [`${indent}chain ${chain} {`, ...rules.map((r) => `${indent}    ${r}`), `${indent}}`];
}
