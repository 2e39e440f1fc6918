// One human line per event, under 80 columns where the addresses allow:
// what `natscope trace` and `natscope replay` print when not asked for JSON,
// and what the walkthrough and the TUI show of an event. Its strings come
// from the kernel, the lab or a recording someone handed round: the line is
// made safe for a terminal (control characters shown escaped) here, where
// every one of those frontends gets it.

import { safeLine } from '../util/terminal.js';
import { endpoint, formatFlags, formatTuple } from './tuple.js';
import type { NatscopeEvent } from './types.js';

export function formatEvent(e: NatscopeEvent, t0: number): string {
  return safeLine(describeEvent(e, t0));
}

function describeEvent(e: NatscopeEvent, t0: number): string {
  const time = ((e.t - t0) / 1e9).toFixed(3).padStart(8);
  const host = e.host.padEnd(6);
  switch (e.kind) {
    case 'nat': {
      const arrow =
        e.manip === 'DNAT' ? `⇒ dst ${endpoint(e.to.ip, e.to.port)}` : `⇒ src ${endpoint(e.to.ip, e.to.port)}`;
      return `${time} ${host} ${e.manip} ${e.proto} ${formatTuple(e.orig)} ${arrow}`;
    }
    case 'ct-new':
      return `${time} ${host} CT+  ${e.proto} ${formatTuple(e.orig)} reply ${formatTuple(e.reply)} [${natBits(e.status)}]`;
    case 'ct-destroy':
      return `${time} ${host} CT-  ${e.proto} ${formatTuple(e.orig)} [${e.status.filter((s) => s !== 'CONFIRMED').join(',')}]`;
    case 'drop': {
      const p = e.packet;
      const flags = p.flags.length ? ` ${formatFlags(p.flags)}` : '';
      return `${time} ${host} DROP ${e.reason} at ${e.location}: ${p.proto} ${endpoint(p.src, p.sport)} → ${endpoint(p.dst, p.dport)}${flags}`;
    }
    case 'rewrite':
      return `${time} ${host} ${e.manip === 'DNAT' ? 'dnat' : 'snat'} ${e.dir.padEnd(5)} ${formatTuple(e.before)} ⇒ ${formatTuple(e.after)}`;
    case 'lost':
      return `${time} ${'-'.padEnd(6)} LOST ${e.count} ${e.probe} event(s) (${e.source === 'sequence' ? 'sequence gap' : 'reported by bpftrace'})`;
    case 'counted':
      return `${time} ${host} +${e.count} ${e.of}${e.by ? ` ${e.by}` : ''} event(s) counted, not shown (${e.cause === 'load' ? "the lab's load" : 'over the detail budget'})`;
    case 'error':
      return `${time} ${'-'.padEnd(6)} ERROR ${e.source}: ${e.message}`;
    case 'request': {
      const saw = e.peer ? ` (pod ${e.pod ?? '?'} saw ${e.peer})` : '';
      return `${time} ${host} REQ  ${e.target} via ${e.via} ${endpoint(e.dst, e.dport)} from ${e.sport ?? '?'}: ${e.outcome} in ${e.latencyMs} ms${saw}`;
    }
    case 'config':
      return `${time} ${'-'.padEnd(6)} CONFIG masqueradeAll=${e.kubeProxy.masqueradeAll} clusterCIDR=${e.kubeProxy.clusterCIDR ?? 'none'}${e.change ? ` (${e.change})` : ''}`;
    case 'status':
      return `${time} ${'-'.padEnd(6)} STATUS ${e.state} (${e.where}${e.probes.length ? `, probes ${e.probes.join(',')}` : ''})${e.message ? `: ${e.message}` : ''}`;
    case 'observation':
      return `${time} ${host} SHOW ${e.what} ${e.subject}`;
    case 'reply':
      return `${time} ${'-'.padEnd(6)} REPLY #${e.id} ${e.ok ? 'ok' : `failed: ${e.error ?? ''}`}`;
  }
}

// Which NAT this entry has: the point of the tool, so it leads.
function natBits(status: string[]): string {
  const nat = status.filter((s) => s === 'DST_NAT' || s === 'SRC_NAT');
  return nat.length ? nat.join('+') : 'no NAT';
}
