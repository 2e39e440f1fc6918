// The incident as a fixed sequence of lab commands: the broken request, the
// one that works, the fix, the fixed request. Shared by the end-to-end test
// and the benchmark, so both measure the same run.

import type { AgentClient } from '../agent/client.js';
import type { NatscopeEvent, RequestEvent } from '../events/types.js';

export interface ScenarioResult {
  mysqlBroken: RequestEvent;
  nginx: RequestEvent;
  mysqlFixed: RequestEvent;
  vpnDropsBefore: number;
  vpnDropsAfter: number;
}

export async function runIncidentScenario(client: AgentClient, timeoutMs = 3000): Promise<ScenarioResult> {
  const request = async (target: string) => await client.call({ cmd: 'request', target, timeoutMs });
  const drops = async () => (await client.call({ cmd: 'drops' })).vpnDrops;
  await client.call({ cmd: 'set', masqueradeAll: false });
  const mysqlBroken = await request('mysql');
  const nginx = await request('nginx');
  const vpnDropsBefore = await drops();
  await client.call({ cmd: 'set', masqueradeAll: true });
  const mysqlFixed = await request('mysql');
  const vpnDropsAfter = await drops();
  return { mysqlBroken, nginx, mysqlFixed, vpnDropsBefore, vpnDropsAfter };
}

// The events of one connection, found by the client's source port.
export function eventsOfClient(events: NatscopeEvent[], src: string, sport: number): NatscopeEvent[] {
  return events.filter((e) => {
    switch (e.kind) {
      case 'nat':
      case 'ct-new':
      case 'ct-destroy':
        return (e.orig.src === src && e.orig.sport === sport) || (e.reply.dst === src && e.reply.dport === sport);
      case 'drop':
        return (e.packet.dst === src && e.packet.dport === sport) || (e.packet.src === src && e.packet.sport === sport);
      default:
        return false;
    }
  });
}
