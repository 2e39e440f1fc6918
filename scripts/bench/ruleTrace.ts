// What rule tracing (trace --rules) costs one lab request, natively: a
// traced request (trace tables installed, an nft listener per host,
// readiness probes before and after, tables removed) against the same
// request untraced, interleaved, on a netns lab of its own (both proxy modes,
// and iptables mode on iptables-legacy, read with xt TRACE). Also the time
// the request itself takes inside a traced run (the packets carrying the
// trace bit: what the kernel's tracing adds per packet). Run alone as root:
//   node dist/scripts/bench/ruleTrace.js    (and from npm run bench)

import { NetnsLab } from '../../src/lab/netns/lab.js';
import { tracedRequest } from '../../src/ruletrace/tracedRequest.js';
import { formatFigure, type Figure } from './figures.js';

const PREFIX = 'natscope-bench-rules-';
const ROUNDS = Number(process.env.NATSCOPE_BENCH_ROUNDS ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

export async function benchRuleTrace(): Promise<Figure[]> {
  const figures: Figure[] = [];
  // nftrace for both modes on iptables-nft; xt TRACE for iptables mode on iptables-legacy
  const labs = [
    { mode: 'iptables', iptables: 'nft', label: 'iptables' },
    { mode: 'nftables', iptables: 'nft', label: 'nftables' },
    { mode: 'iptables', iptables: 'legacy', label: 'legacy, xt' },
  ] as const;
  for (const { mode, iptables, label } of labs) {
    // masqueradeAll on: the mysql request is answered, so its time is the path's, not a timeout
    const lab = await NetnsLab.up({
      prefix: PREFIX,
      masqueradeAll: true,
      clusterCIDR: null,
      proxyMode: mode,
      iptables,
    });
    try {
      const untraced: number[] = [];
      const traced: number[] = [];
      const inside: number[] = [];
      // one of each first, unmeasured: the helper and nft pages are warm for both
      await lab.request('mysql', 3000);
      await tracedRequest(lab, 'mysql', 3000);
      for (let i = 0; i < ROUNDS; i++) {
        const t = performance.now();
        const r = await lab.request('mysql', 3000);
        untraced.push(performance.now() - t);
        const tr = await tracedRequest(lab, 'mysql', 3000);
        traced.push(tr.timing.totalMs);
        inside.push(tr.timing.requestMs);
        if (r.outcome !== 'answered' || tr.request.outcome !== 'answered')
          throw new Error(`a request was not answered (${r.outcome}, ${tr.request.outcome})`);
      }
      const note = `median of ${ROUNDS}, mysql request answered (masqueradeAll on)`;
      figures.push(
        {
          name: `trace --rules (${label}): untraced lab request`,
          value: median(untraced),
          unit: 'ms',
          where: 'native',
          note,
        },
        {
          name: `trace --rules (${label}): traced lab request, in all`,
          value: median(traced),
          unit: 'ms',
          where: 'native',
          note,
        },
        {
          name: `trace --rules (${label}): the request inside a traced run`,
          value: median(inside),
          unit: 'ms',
          where: 'native',
          note,
        },
      );
    } finally {
      await NetnsLab.down(PREFIX);
    }
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of await benchRuleTrace()) process.stdout.write(`${formatFigure(f)}\n`);
}
