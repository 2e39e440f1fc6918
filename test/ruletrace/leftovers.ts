// What rule tracing could leave in a netns lab: natscope's trace table in a
// host's namespace, a listener still running there (nft; tcpdump for legacy
// rules), a namespace's logger still set to nfnetlink_log. The lab tests of
// rule tracing (tracedRequest, concurrentTraces, the TUI's w key) expect
// none after every way out.

import { readFileSync } from 'node:fs';
import { inNetns, netnsPids } from '../../src/lab/netns/exec.js';
import { netnsName } from '../../src/lab/netns/topology.js';
import { TRACED_HOSTS } from '../../src/ruletrace/tracedRequest.js';
import { TRACE_TABLE } from '../../src/ruletrace/traceTable.js';
import { NF_LOG_IPV4, NFNETLINK_LOG } from '../../src/ruletrace/xtMonitor.js';

export async function traceLeftovers(prefix: string): Promise<string[]> {
  const left: string[] = [];
  for (const host of TRACED_HOSTS) {
    const ns = netnsName(prefix, host);
    const tables = String((await inNetns(ns, ['nft', 'list', 'tables'])).stdout);
    if (tables.includes(TRACE_TABLE)) left.push(`${TRACE_TABLE} in ${ns}`);
    const logger = String((await inNetns(ns, ['sysctl', '-n', NF_LOG_IPV4])).stdout).trim();
    if (logger === NFNETLINK_LOG) left.push(`${NF_LOG_IPV4}=${logger} in ${ns}`);
  }
  for (const pid of await netnsPids(TRACED_HOSTS.map((h) => netnsName(prefix, h)))) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // gone meanwhile
    }
    if (comm === 'nft' || comm === 'tcpdump') left.push(`${comm} (pid ${pid})`);
  }
  return left;
}
