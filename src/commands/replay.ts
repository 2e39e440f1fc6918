// natscope replay FILE: a recorded event stream, printed as it was traced.
// Needs no root and no kernel: this is how frontends are tested and how a
// workshop replays a session.

import { encodeEvent } from '../events/codec.js';
import { FlowTracker } from '../events/flows.js';
import { formatEvent } from '../events/format.js';
import { replayFile } from '../events/sources.js';
import { formatFlowSummary } from '../events/story.js';
import type { LabStatus } from '../events/types.js';

export interface ReplayOptions {
  file: string;
  json: boolean;
  speed: number;
  flows: boolean;
}

export async function replay(options: ReplayOptions): Promise<number> {
  const tracker = new FlowTracker();
  let t0: number | undefined;
  let lab: LabStatus | null = null;
  for await (const event of replayFile(options.file, { speed: options.speed })) {
    t0 ??= event.t;
    if (event.kind === 'status' && event.lab) lab = event.lab;
    tracker.add(event);
    process.stdout.write(`${options.json ? encodeEvent(event) : formatEvent(event, t0)}\n`);
  }
  if (options.flows) {
    const flows = tracker
      .flows()
      .filter((f) => f.events.length > 0)
      .sort((a, b) => a.id - b.id);
    if (options.json) {
      for (const f of flows) process.stdout.write(`${JSON.stringify({ flow: f.id, ...formatFlowSummary(f, lab) })}\n`);
    } else {
      process.stdout.write(`\n${flows.length} flow(s):\n`);
      for (const f of flows) process.stdout.write(`  #${f.id} ${formatFlowSummary(f, lab).path}\n`);
    }
  }
  return 0;
}
