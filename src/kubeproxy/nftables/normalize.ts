// The normal form kube-proxy's nftables tests compare rulesets in
// (sortNFTablesTransaction in pkg/proxy/nftables/helpers_test.go): blank
// lines and "#" comment lines dropped; lines ordered by object type (table,
// chain, rule, set, map, element), then by object name (the fifth word);
// rules keep their order within a chain, other lines of one object are
// ordered as text. The sort is stable, so lines it cannot tell apart keep
// their order.

const OBJECT_ORDER: Record<string, number> = { table: 10, chain: 9, rule: 8, set: 7, map: 6, element: 5 };

function compareLines(a: string, b: string): number {
  const wa = a.split(' ');
  const wb = b.split(' ');
  // every line is "add TYPE ip kube-proxy NAME …" (a table line has its
  // comment where the name would be)
  if (wa.length < 5 || wb.length < 5) return 0;
  if (wa[1] !== wb[1]) return (OBJECT_ORDER[wb[1]!] ?? 0) - (OBJECT_ORDER[wa[1]!] ?? 0);
  if (wa[4] !== wb[4]) return wa[4]! < wb[4]! ? -1 : 1;
  if (wa[1] === 'rule') return 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function normalizeNftables(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  return lines.sort(compareLines).join('\n');
}
