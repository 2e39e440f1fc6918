// What rule tracing could leave in a netns lab: natscope's trace table in a
// host's namespace, an nft listener still running there. The lab tests of
// rule tracing (tracedRequest, concurrentTraces, the TUI's w key) expect
// none after every way out.

import { readFileSync } from 'node:fs';
import { inNetns, netnsPids } from '../../src/lab/netns/exec.js';
import { netnsName } from '../../src/lab/netns/topology.js';
import { TRACED_HOSTS } from '../../src/ruletrace/tracedRequest.js';
import { TRACE_TABLE } from '../../src/ruletrace/traceTable.js';

export async function traceLeftovers(prefix: string): Promise<string[]> {
  const left: string[] = [];
  for (const host of TRACED_HOSTS) {
    const ns = netnsName(prefix, host);
    const tables = String((await inNetns(ns, ['nft', 'list', 'tables'])).stdout);
    if (tables.includes(TRACE_TABLE)) left.push(`${TRACE_TABLE} in ${ns}`);
  }
  for (const pid of await netnsPids(TRACED_HOSTS.map((h) => netnsName(prefix, h)))) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // gone meanwhile
    }
    if (comm === 'nft') left.push(`nft (pid ${pid})`);
  }
  return left;
}
