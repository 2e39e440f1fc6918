// The nftables objects kube-proxy writes into its table, and the text of the
// operations on them, in the syntax kube-proxy's nftables library (knftables)
// hands to `nft -f`: "add chain ip kube-proxy NAME { type … ; }",
// "flush set ip kube-proxy NAME", "add element ip kube-proxy NAME { K . K : V }".
// The same text, one "add" line per object, is the dump kube-proxy's own
// tests compare (state.ts).

export const FAMILY = 'ip';
export const TABLE = 'kube-proxy';

export type ChainType = 'filter' | 'nat';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';

export interface BaseChainSpec {
  type: ChainType;
  hook: Hook;
  // numeric, as knftables writes it: nft 1.0 refuses a symbolic "dstnat" on
  // the output hook, so kube-proxy's library resolves names to numbers
  priority: number;
}

export interface TableObject {
  kind: 'table';
  comment: string;
}

export interface ChainObject {
  kind: 'chain';
  name: string;
  base?: BaseChainSpec;
  comment?: string;
}

export interface SetObject {
  kind: 'set' | 'map';
  name: string;
  // e.g. "ipv4_addr", "ipv4_addr . inet_proto . inet_service : verdict"
  type: string;
  comment?: string;
}

export interface RuleObject {
  kind: 'rule';
  chain: string;
  rule: string;
  comment?: string;
}

export interface ElementObject {
  kind: 'element';
  // the set or map the element belongs to
  container: string;
  key: string[];
  // maps only
  value?: string[];
  comment?: string;
}

export type NftObject = TableObject | ChainObject | SetObject | RuleObject | ElementObject;

export type Verb = 'add' | 'flush' | 'delete';

export interface Operation {
  verb: Verb;
  object: NftObject;
}

const quote = (comment: string) => `"${comment}"`;

// knftables joins a set element's or a map key's fields with " . ".
function elementBody(e: ElementObject): string {
  let body = e.key.join(' . ');
  if (e.comment !== undefined) body += ` comment ${quote(e.comment)}`;
  if (e.value !== undefined) body += ` : ${e.value.join(' . ')}`;
  return `{ ${body} }`;
}

// The object's type word and name as nft addresses it ("chain ip kube-proxy X").
function identity(o: NftObject): string {
  switch (o.kind) {
    case 'table':
      return `table ${FAMILY} ${TABLE}`;
    case 'chain':
      return `chain ${FAMILY} ${TABLE} ${o.name}`;
    case 'set':
    case 'map':
      return `${o.kind} ${FAMILY} ${TABLE} ${o.name}`;
    case 'rule':
      return `rule ${FAMILY} ${TABLE} ${o.chain}`;
    case 'element':
      return `element ${FAMILY} ${TABLE} ${o.container}`;
  }
}

// Everything after the identity that an "add" carries.
function properties(o: NftObject): string {
  switch (o.kind) {
    case 'table':
      return ` { comment ${quote(o.comment)} ; }`;
    case 'chain': {
      const parts: string[] = [];
      if (o.base) parts.push(`type ${o.base.type} hook ${o.base.hook} priority ${o.base.priority}`);
      if (o.comment !== undefined) parts.push(`comment ${quote(o.comment)}`);
      return parts.length ? ` { ${parts.map((p) => `${p} ;`).join(' ')} }` : '';
    }
    case 'set':
    case 'map': {
      const parts = [`type ${o.type} ;`];
      if (o.comment !== undefined) parts.push(`comment ${quote(o.comment)} ;`);
      return ` { ${parts.join(' ')} }`;
    }
    case 'rule':
      return ` ${o.rule}${o.comment !== undefined ? ` comment ${quote(o.comment)}` : ''}`;
    case 'element':
      return ` ${elementBody(o)}`;
  }
}

export function operationText(op: Operation): string {
  const o = op.object;
  if (op.verb === 'add') return `add ${identity(o)}${properties(o)}`;
  // nft flushes and deletes whole tables, chains, sets and maps; kube-proxy
  // deletes single elements by key, but never on a first sync
  if (o.kind === 'rule' || o.kind === 'element') throw new Error(`cannot ${op.verb} a ${o.kind}`);
  return `${op.verb} ${identity(o)}`;
}

export const add = (object: NftObject): Operation => ({ verb: 'add', object });
export const flush = (object: NftObject): Operation => ({ verb: 'flush', object });
export const del = (object: NftObject): Operation => ({ verb: 'delete', object });
