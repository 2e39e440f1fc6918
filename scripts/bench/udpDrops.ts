// Sends UDP datagrams to 127.0.0.1:<port> at a steady rate for a while and
// prints how many it sent. Run inside a namespace whose OUTPUT chain drops
// them (perEvent.ts): each is one NETFILTER_DROP the drop probe reports.
// Usage: node udpDrops.js PORT RATE SECONDS

import { createSocket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';

const [port, rate, seconds] = process.argv.slice(2).map(Number);
if (!(port! > 0 && rate! > 0 && seconds! > 0)) {
  process.stderr.write('usage: udpDrops PORT RATE SECONDS\n');
  process.exit(2);
}
const socket = createSocket('udp4');
const payload = Buffer.from('natscope');
const started = performance.now();
let sent = 0;
while (performance.now() - started < seconds! * 1000) {
  // catch up with the schedule, then yield a millisecond
  const due = Math.floor(((performance.now() - started) / 1000) * rate!);
  // the firewall refuses each send (EPERM): that is the point
  for (; sent < due; sent++) socket.send(payload, port!, '127.0.0.1', () => undefined);
  await sleep(1);
}
await sleep(100);
socket.close();
process.stdout.write(`${sent}\n`);
