// A rule path (rulePath.ts) as text for a terminal: per host and direction
// the rules the first packet met, what each meant, then one summary line
// each. Rule text comes from the kernel through nft: every line is passed
// through safeLine where it is written.

import { safeLine } from '../util/terminal.js';
import type { RulePath } from './rulePath.js';

// A rule's counter values change with every packet and say nothing about the path.
export function withoutCounts(rule: string): string {
  return rule.replace(/\bcounter packets \d+ bytes \d+/g, 'counter');
}

export function formatRulePath(path: RulePath): string[] {
  const kp = path.kubeProxy;
  const lines: string[] = [
    `kube-proxy: ${kp.mode} mode, masqueradeAll=${kp.masqueradeAll}, clusterCIDR=${kp.clusterCIDR ?? 'none'}`,
  ];
  for (const p of path.packets) {
    const more = p.morePackets ? `  (+${p.morePackets} more packet${p.morePackets === 1 ? '' : 's'} of the flow)` : '';
    lines.push('', `${p.host} ${p.direction} ${p.packet}${more}`);
    if (p.steps.length === 0) lines.push('  no rule of any table met it (policies accept)');
    for (const s of p.steps) {
      const handle = s.handle === null ? '' : ` #${s.handle}`;
      const meaning = s.meaning ? `   ← ${s.meaning}` : '';
      lines.push(`  ${s.table} ${s.chain}${handle}: ${withoutCounts(s.rule)} → ${s.verdict}${meaning}`);
    }
  }
  lines.push('', 'Rule path:');
  for (const s of path.summary) lines.push(`  ${s}`);
  return lines.map(safeLine);
}
