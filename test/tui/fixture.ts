// The recording every TUI test reads: captured from a real micro-VM run
// (test/fixtures/recordings/README.md), never written by hand.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeEvent } from '../../src/events/codec.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { ViewModel } from '../../tui/viewModel.js';

export const INCIDENT = fileURLToPath(new URL('../fixtures/recordings/incident.jsonl', import.meta.url));

export function incidentEvents(): NatscopeEvent[] {
  return readFileSync(INCIDENT, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => decodeEvent(l, i + 1));
}

// A view model that has taken the whole recording, as after a replay at speed 0.
export function incidentModel(): ViewModel {
  const model = new ViewModel({ kind: 'replay', file: INCIDENT, speed: 0 });
  for (const e of incidentEvents()) model.ingest(e, 1000);
  model.sourceState = 'ended';
  return model;
}

// n kernel events made from the recording's own, each repetition on new
// client ports, so they form new flows the way a load run does.
export function burst(n: number): NatscopeEvent[] {
  const kernel = incidentEvents().filter((e) => ['nat', 'ct-new', 'ct-destroy', 'drop'].includes(e.kind));
  const out: NatscopeEvent[] = [];
  for (let round = 0; out.length < n; round++) {
    for (const e of kernel) {
      if (out.length >= n) break;
      const text = JSON.stringify(e).replace(/"(sport|dport)":(\d{4,5})\b/g, (m, field: string, port: string) => {
        const p = Number(port);
        // client ports are the ephemeral ones; Service and pod ports stay
        return p >= 1024 && p !== 3306 ? `"${field}":${1024 + ((p + round) % 60000)}` : m;
      });
      out.push({ ...decodeEvent(text, out.length + 1), t: e.t + round * 1e7 });
    }
  }
  return out;
}
