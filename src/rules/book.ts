// Which rule natscope rendered a traced rule is. The trace names a rule by
// its table, chain and handle; `nft -j list ruleset` says where in its chain
// each handle sits; natscope knows the rules it wrote into each chain, in
// order (why.ts, per mode). A chain is tied only when the kernel holds as
// many rules there as natscope wrote: a chain someone else added to is
// left untied rather than guessed at.

import type { RuleStep } from '../events/types.js';

// A rule as natscope rendered it, and the setting or fact that put it there.
export interface RenderedRule {
  rendered: string;
  why: string | null;
}

export interface RenderedChain {
  // "ip kube-proxy", "ip nat", "ip filter"
  table: string;
  chain: string;
  rules: RenderedRule[];
}

export interface HandleIndex {
  // "table\tchain\thandle" → position in its chain
  position: Map<string, number>;
  // "table\tchain" → how many rules the chain holds
  length: Map<string, number>;
}

const key = (...parts: (string | number)[]) => parts.join('\t');

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// nft -j list ruleset: every rule's place in its chain. What is not a rule
// with a family, table, chain and handle is skipped; a listing that is not
// nft's JSON at all is an error.
export function handleIndex(listingJson: string): HandleIndex {
  let doc: unknown;
  try {
    doc = JSON.parse(listingJson);
  } catch {
    throw new Error('nft -j list ruleset printed something that is not JSON');
  }
  if (!isRecord(doc) || !Array.isArray(doc.nftables)) throw new Error('nft -j list ruleset: no "nftables" list');
  const index: HandleIndex = { position: new Map(), length: new Map() };
  for (const item of doc.nftables) {
    if (!isRecord(item) || !isRecord(item.rule)) continue;
    const { family, table, chain, handle } = item.rule;
    if (typeof family !== 'string' || typeof table !== 'string' || typeof chain !== 'string') continue;
    if (typeof handle !== 'number' || !Number.isInteger(handle) || handle < 0) continue;
    const chainKey = key(`${family} ${table}`, chain);
    const n = index.length.get(chainKey) ?? 0;
    index.position.set(key(`${family} ${table}`, chain, handle), n);
    index.length.set(chainKey, n + 1);
  }
  return index;
}

// Each traced rule with the rule natscope rendered for that place, and why it is there.
export function tieSteps(steps: readonly RuleStep[], rendered: readonly RenderedChain[], index: HandleIndex): RuleStep[] {
  const chains = new Map(rendered.map((c) => [key(c.table, c.chain), c.rules]));
  return steps.map((step) => {
    if (step.kind !== 'rule' || step.handle === null) return step;
    const rules = chains.get(key(step.table, step.chain));
    const at = index.position.get(key(step.table, step.chain, step.handle));
    if (!rules || at === undefined || index.length.get(key(step.table, step.chain)) !== rules.length) return step;
    const r = rules[at];
    return r ? { ...step, rendered: r.rendered, why: r.why } : step;
  });
}
