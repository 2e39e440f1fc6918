// What kube-proxy's table holds after a transaction: the operations applied
// in order, with nft's rules (a rule or an element needs its chain, set or
// map; "flush" empties, "delete" removes), then written out as one "add"
// line per object, the dump kube-proxy's own tests compare. The dump is
// itself valid `nft -f` input.

import {
  add,
  type ChainObject,
  type ElementObject,
  type NftObject,
  type Operation,
  operationText,
  type RuleObject,
  type SetObject,
  type TableObject,
} from './objects.js';

export interface TableState {
  table: TableObject | null;
  chains: Map<string, { chain: ChainObject; rules: RuleObject[] }>;
  containers: Map<string, { container: SetObject; elements: Map<string, ElementObject> }>;
}

function fail(op: Operation, why: string): never {
  throw new Error(`${operationText(op)}: ${why}`);
}

const elementKey = (e: ElementObject) => e.key.join(' . ');

export function applyOperations(ops: Operation[], state?: TableState): TableState {
  const s: TableState = state ?? { table: null, chains: new Map(), containers: new Map() };
  for (const op of ops) {
    const o: NftObject = op.object;
    if (o.kind !== 'table' && !s.table) fail(op, 'no such table');
    switch (o.kind) {
      case 'table':
        if (op.verb === 'add') s.table ??= o;
        else if (op.verb === 'delete') {
          s.table = null;
          s.chains.clear();
          s.containers.clear();
        } else fail(op, 'flushing a whole table is not modelled');
        break;
      case 'chain': {
        const existing = s.chains.get(o.name);
        if (op.verb === 'add') {
          if (!existing) s.chains.set(o.name, { chain: o, rules: [] });
          else if (JSON.stringify(existing.chain.base) !== JSON.stringify(o.base) && o.base)
            fail(op, 'a chain cannot change its hook or priority');
        } else if (!existing) fail(op, 'no such chain');
        else if (op.verb === 'flush') existing.rules = [];
        else s.chains.delete(o.name);
        break;
      }
      case 'set':
      case 'map': {
        const existing = s.containers.get(o.name);
        if (op.verb === 'add') {
          if (!existing) s.containers.set(o.name, { container: o, elements: new Map() });
          else if (existing.container.kind !== o.kind || existing.container.type !== o.type)
            fail(op, `a ${o.kind} cannot change its type`);
        } else if (!existing) fail(op, `no such ${o.kind}`);
        else if (op.verb === 'flush') existing.elements.clear();
        else s.containers.delete(o.name);
        break;
      }
      case 'rule': {
        const chain = s.chains.get(o.chain);
        if (!chain) fail(op, 'no such chain');
        chain.rules.push(o);
        break;
      }
      case 'element': {
        const container = s.containers.get(o.container);
        if (!container) fail(op, 'no such set or map');
        if ((o.value !== undefined) !== (container.container.kind === 'map'))
          fail(op, 'a map element needs a value, a set element none');
        container.elements.set(elementKey(o), o);
        break;
      }
    }
  }
  return s;
}

// Table, chains, sets and maps first, then rules and elements, so the dump
// loads with `nft -f` as it is; names sorted so equal states dump equal.
export function dumpState(s: TableState): string {
  if (!s.table) return '';
  const byName = <T>(m: Map<string, T>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const lines = [operationText(add(s.table))];
  for (const [, c] of byName(s.chains)) lines.push(operationText(add(c.chain)));
  for (const [, c] of byName(s.containers)) lines.push(operationText(add(c.container)));
  for (const [, c] of byName(s.chains)) for (const r of c.rules) lines.push(operationText(add(r)));
  for (const [, c] of byName(s.containers)) for (const [, e] of byName(c.elements)) lines.push(operationText(add(e)));
  return `${lines.join('\n')}\n`;
}
