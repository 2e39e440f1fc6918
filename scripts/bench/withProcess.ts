// A measurement taken while another program runs beside it (the benchmarks'
// yardsticks: `conntrack -E`, `tcpdump -w`), which is stopped afterwards.

import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export async function withProcess(argv: string[], f: () => Promise<number>): Promise<number> {
  const child = execa(argv[0]!, argv.slice(1), { reject: false, stdout: 'ignore', stderr: 'ignore' });
  await sleep(1500); // let it open its sockets
  try {
    return await f();
  } finally {
    child.kill('SIGTERM');
    await child;
  }
}
