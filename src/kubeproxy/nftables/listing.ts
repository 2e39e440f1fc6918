// kube-proxy's table as the kernel holds it, read back from
// `nft -j list table ip kube-proxy`, next to the same outline of the model's
// table: chains with their hooks and, per rule, where it jumps, where it
// DNATs to and its comment; sets and maps with their types and elements.
// nft prints rules in its own words ("meta mark set meta mark | 0x00004000"
// for "mark set mark or 0x4000"), so rules are compared by what they lead
// to, not by their text.

import type { BaseChainSpec, ChainType, ElementObject, Hook } from './objects.js';
import type { TableState } from './state.js';

export interface RuleOutline {
  // its address matches, e.g. "ip saddr != 10.244.0.0/16" (sets by name left out)
  matches: string[];
  // the chains it jumps or goes to, in order (a verdict map's included)
  targets: string[];
  // "ip:port" of a dnat statement
  dnat: string | null;
  // the statements that end or rewrite: drop, reject, return, masquerade
  actions: string[];
  comment: string | null;
}

export interface ChainOutline {
  base: BaseChainSpec | null;
  rules: RuleOutline[];
}

export interface ContainerOutline {
  kind: 'set' | 'map';
  // "ipv4_addr . inet_proto . inet_service : verdict"
  type: string;
  // 'key . key [comment "c"] [: value]', sorted
  elements: string[];
}

export interface TableOutline {
  chains: Record<string, ChainOutline>;
  containers: Record<string, ContainerOutline>;
}

const TARGET = /\b(?:jump|goto) (\S+)/g;
const ACTIONS = ['drop', 'reject', 'return', 'masquerade'];
const ACTION = /(?<![-\w])(drop|reject|return|masquerade)(?![-\w])/g;
const ADDRESS_MATCH = /\bip (saddr|daddr) (!= )?(?:\{ ([^}]*) \}|(\d[\d./]*))/g;

const matchText = (field: string, negated: boolean, values: string[]) =>
  `ip ${field} ${negated ? '!= ' : ''}${values.join(',')}`;

function ruleOutline(rule: string, comment: string | undefined): RuleOutline {
  return {
    matches: [...rule.matchAll(ADDRESS_MATCH)].map((m) =>
      matchText(
        m[1]!,
        m[2] !== undefined,
        (m[3] ?? m[4]!).split(',').map((v) => v.trim()),
      ),
    ),
    targets: [...rule.matchAll(TARGET)].map((m) => m[1]!),
    dnat: /\bdnat to (\S+)/.exec(rule)?.[1] ?? null,
    actions: [...rule.matchAll(ACTION)].map((m) => m[1]!),
    comment: comment ?? null,
  };
}

function elementText(key: string, comment: string | null, value: string | null): string {
  return `${key}${comment !== null ? ` comment "${comment}"` : ''}${value !== null ? ` : ${value}` : ''}`;
}

const sorted = (a: string[]) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

export function outlineOfState(s: TableState): TableOutline {
  const chains: Record<string, ChainOutline> = {};
  for (const [name, c] of s.chains)
    chains[name] = { base: c.chain.base ?? null, rules: c.rules.map((r) => ruleOutline(r.rule, r.comment)) };
  const containers: Record<string, ContainerOutline> = {};
  for (const [name, c] of s.containers) {
    const e = (x: ElementObject) =>
      elementText(x.key.join(' . '), x.comment ?? null, x.value ? x.value.join(' . ') : null);
    containers[name] = {
      kind: c.container.kind,
      type: c.container.type,
      elements: sorted([...c.elements.values()].map(e)),
    };
  }
  return { chains, containers };
}

// ---- nft's JSON, read without trusting its shape ----

type Json = unknown;
const isRecord = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: Json, what: string): string => {
  if (typeof v !== 'string') throw new Error(`nft -j: ${what} is not a string`);
  return v;
};

const CHAIN_TYPES: readonly ChainType[] = ['filter', 'nat'];
const HOOKS: readonly Hook[] = ['prerouting', 'input', 'forward', 'output', 'postrouting'];

// A set element or map key: "10.0.0.1", 80, {"concat": [...]}, or
// {"elem": {"val": …, "comment": "…"}} when it carries a comment.
function keyText(v: Json): { key: string; comment: string | null } {
  if (typeof v === 'string' || typeof v === 'number') return { key: String(v), comment: null };
  if (isRecord(v) && Array.isArray(v.concat))
    return { key: v.concat.map((p) => keyText(p).key).join(' . '), comment: null };
  if (isRecord(v) && isRecord(v.elem)) {
    const inner = keyText(v.elem.val);
    return { key: inner.key, comment: v.elem.comment === undefined ? null : str(v.elem.comment, 'element comment') };
  }
  throw new Error(`nft -j: unexpected element ${JSON.stringify(v)}`);
}

function verdictText(v: Json): string {
  if (isRecord(v)) {
    for (const kind of ['goto', 'jump'] as const) {
      const t = v[kind];
      if (isRecord(t)) return `${kind} ${str(t.target, 'verdict target')}`;
    }
    for (const kind of ['drop', 'accept', 'return'] as const) if (kind in v) return kind;
  }
  throw new Error(`nft -j: unexpected verdict ${JSON.stringify(v)}`);
}

function containerElements(elems: Json, kind: 'set' | 'map'): string[] {
  if (elems === undefined) return [];
  if (!Array.isArray(elems)) throw new Error('nft -j: elem is not a list');
  return sorted(
    elems.map((e) => {
      if (kind === 'set') {
        const k = keyText(e);
        return elementText(k.key, k.comment, null);
      }
      if (!Array.isArray(e) || e.length !== 2) throw new Error('nft -j: a map element is not [key, value]');
      const k = keyText(e[0]);
      return elementText(k.key, k.comment, verdictText(e[1]));
    }),
  );
}

// Jump and goto targets anywhere in a rule's expressions, in order.
function collectTargets(v: Json, out: string[]): void {
  if (Array.isArray(v)) for (const x of v) collectTargets(x, out);
  else if (isRecord(v)) {
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'jump' || k === 'goto') && isRecord(x)) out.push(str(x.target, 'jump target'));
      else collectTargets(x, out);
    }
  }
}

// An address or prefix on the right of a match: "10.0.0.1",
// {"prefix": {"addr", "len"}}, or {"set": [...]} of those.
function addressValues(v: Json): string[] | null {
  if (typeof v === 'string') return v.startsWith('@') ? null : [v];
  if (isRecord(v) && isRecord(v.prefix)) return [`${str(v.prefix.addr, 'prefix address')}/${String(v.prefix.len)}`];
  if (isRecord(v) && Array.isArray(v.set)) {
    const all = v.set.map(addressValues);
    return all.every((x) => x !== null) ? all.flat() : null;
  }
  return null;
}

// The rule's "ip saddr/daddr [!=] address" matches, in order.
function addressMatches(expr: Json): string[] {
  if (!Array.isArray(expr)) return [];
  const out: string[] = [];
  for (const e of expr) {
    if (!isRecord(e) || !isRecord(e.match)) continue;
    const { left, op, right } = e.match;
    if (!isRecord(left) || !isRecord(left.payload) || left.payload.protocol !== 'ip') continue;
    const field = left.payload.field;
    const values = addressValues(right);
    if ((field === 'saddr' || field === 'daddr') && values && (op === '==' || op === '!='))
      out.push(matchText(field, op === '!=', values));
  }
  return out;
}

function findDnat(v: Json): string | null {
  if (Array.isArray(v)) {
    for (const x of v) {
      const d = findDnat(x);
      if (d) return d;
    }
  } else if (isRecord(v)) {
    if (isRecord(v.dnat)) return `${str(v.dnat.addr, 'dnat address')}:${String(v.dnat.port)}`;
    for (const x of Object.values(v)) {
      const d = findDnat(x);
      if (d) return d;
    }
  }
  return null;
}

export function outlineOfListing(jsonText: string): TableOutline {
  const doc: Json = JSON.parse(jsonText);
  if (!isRecord(doc) || !Array.isArray(doc.nftables)) throw new Error('nft -j: no "nftables" list');
  const out: TableOutline = { chains: {}, containers: {} };
  const rulesOf = (chain: string): RuleOutline[] => {
    const c = out.chains[chain];
    if (!c) throw new Error(`nft -j: rule for unknown chain ${chain}`);
    return c.rules;
  };
  for (const item of doc.nftables) {
    if (!isRecord(item)) continue;
    if (isRecord(item.chain)) {
      const c = item.chain;
      const name = str(c.name, 'chain name');
      let base: BaseChainSpec | null = null;
      if (c.hook !== undefined) {
        const type = CHAIN_TYPES.find((t) => t === c.type);
        const hook = HOOKS.find((h) => h === c.hook);
        if (!type || !hook || typeof c.prio !== 'number') throw new Error(`nft -j: odd base chain ${name}`);
        base = { type, hook, priority: c.prio };
      }
      out.chains[name] = { base, rules: [] };
    } else if (isRecord(item.set) || isRecord(item.map)) {
      const kind = isRecord(item.set) ? 'set' : 'map';
      const s = isRecord(item.set) ? item.set : item.map;
      if (!isRecord(s)) continue;
      const name = str(s.name, `${kind} name`);
      const parts = Array.isArray(s.type) ? s.type.map((t) => str(t, 'type')) : [str(s.type, 'type')];
      const type = parts.join(' . ') + (kind === 'map' ? ` : ${str(s.map, 'map value type')}` : '');
      out.containers[name] = { kind, type, elements: containerElements(s.elem, kind) };
    } else if (isRecord(item.rule)) {
      const r = item.rule;
      const targets: string[] = [];
      collectTargets(r.expr, targets);
      rulesOf(str(r.chain, 'rule chain')).push({
        matches: addressMatches(r.expr),
        targets,
        dnat: findDnat(r.expr),
        actions: Array.isArray(r.expr) ? r.expr.flatMap((e) => (isRecord(e) ? ACTIONS.filter((a) => a in e) : [])) : [],
        comment: r.comment === undefined ? null : str(r.comment, 'rule comment'),
      });
    }
  }
  return out;
}
