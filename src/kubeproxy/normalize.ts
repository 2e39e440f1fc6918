// The normal form kube-proxy's own tests compare payloads in
// (sortIPTablesRules in pkg/proxy/iptables/proxier_test.go): tables by name,
// chains KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-* chains, then the rest
// (byte order), rules grouped by chain. Rule order inside a chain is kept,
// except that KUBE-NODEPORTS (filter, nat) and KUBE-SERVICES are ordered by
// the service name in their comment, the "must be the last rule" rule last.

interface Chain {
  name: string;
  rules: string[];
}

interface Table {
  name: string;
  chains: Chain[];
}

export function parseRestore(text: string): Table[] {
  const tables: Table[] = [];
  let table: Table | undefined;
  const chainOf = (name: string): Chain => {
    if (!table) throw new Error(`rule for chain ${name} outside a table`);
    let chain = table.chains.find((c) => c.name === name);
    if (!chain) {
      chain = { name, rules: [] };
      table.chains.push(chain);
    }
    return chain;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      table = { name: line.slice(1), chains: [] };
      tables.push(table);
    } else if (line === 'COMMIT') {
      table = undefined;
    } else if (line.startsWith(':')) {
      chainOf(line.slice(1).split(' ')[0]!);
    } else if (line.startsWith('-A ')) {
      chainOf(line.split(' ')[1]!).rules.push(line);
    } else {
      throw new Error(`unexpected line in payload: ${line}`);
    }
  }
  return tables;
}

function chainRank(name: string): number {
  if (name === 'KUBE-NODEPORTS') return 0;
  if (name === 'KUBE-SERVICES') return 1;
  if (name.startsWith('KUBE-')) return 2;
  return 3;
}

function compareChains(a: Chain, b: Chain): number {
  const ra = chainRank(a.name);
  const rb = chainRank(b.name);
  if (ra !== rb) return ra - rb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// The comment's service name, up to the first space or colon (orderByCommentServiceName).
function commentService(rule: string): string | null {
  const m = /--comment (?:"([^"]*)"|(\S+))/.exec(rule);
  const value = m?.[1] ?? m?.[2];
  if (value === undefined) return null;
  return value.split(/[ :]/)[0] ?? '';
}

function sortByService(rules: string[], lastRule: boolean): string[] {
  const decorated = rules.map((rule, index) => ({ rule, index, key: commentService(rule) }));
  decorated.sort((a, b) => {
    if (lastRule) {
      const la = a.rule.includes('must be the last rule');
      const lb = b.rule.includes('must be the last rule');
      if (la !== lb) return la ? 1 : -1;
    }
    if (a.key !== null && b.key !== null && a.key !== b.key) return a.key < b.key ? -1 : 1;
    return a.index - b.index; // stable
  });
  return decorated.map((d) => d.rule);
}

export function normalizeRestore(text: string): string {
  const tables = parseRestore(text).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: string[] = [];
  for (const t of tables) {
    const chains = [...t.chains].sort(compareChains);
    out.push(`*${t.name}`);
    for (const c of chains) out.push(`:${c.name} - [0:0]`);
    for (const c of chains) {
      let rules = c.rules;
      if (c.name === 'KUBE-NODEPORTS' || (c.name === 'KUBE-SERVICES' && t.name === 'filter'))
        rules = sortByService(rules, false);
      if (c.name === 'KUBE-SERVICES' && t.name === 'nat') rules = sortByService(rules, true);
      out.push(...rules);
    }
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}
