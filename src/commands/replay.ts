// natscope replay FILE: a recorded event stream, printed as it was traced.
// Needs no root and no kernel: this is how frontends are tested and how a
// workshop replays a session. A recording is untrusted (it is handed
// around): every line printed is made safe for a terminal (formatEvent for
// events, safeLine for flows and warnings), and --json output escapes
// control characters (the same JSON values).

import { encodeEvent } from '../events/codec.js';
import { FlowTracker } from '../events/flows.js';
import { formatEvent } from '../events/format.js';
import { paced, readRecording, openRecordingSource } from '../events/sources.js';
import { formatFlowSummary } from '../events/story.js';
import type { LabStatus, NatscopeEvent } from '../events/types.js';
import { jsonLine, safeLine } from '../util/terminal.js';

export interface ReplayOptions {
  file: string;
  json: boolean;
  speed: number;
  flows: boolean;
}

// What replay prints for a stream of events, written through `write`.
export async function printReplay(
  events: AsyncIterable<NatscopeEvent>,
  options: Pick<ReplayOptions, 'json' | 'flows'>,
  write: (text: string) => void,
): Promise<void> {
  const tracker = new FlowTracker();
  let t0: number | undefined;
  let lab: LabStatus | null = null;
  for await (const event of events) {
    t0 ??= event.t;
    if (event.kind === 'status' && event.lab) lab = event.lab;
    tracker.add(event);
    write(`${options.json ? encodeEvent(event) : formatEvent(event, t0)}\n`);
  }
  if (options.flows) {
    const flows = tracker
      .flows()
      .filter((f) => f.events.length > 0)
      .sort((a, b) => a.id - b.id);
    if (options.json) {
      for (const f of flows) write(`${jsonLine({ flow: f.id, ...formatFlowSummary(f, lab) })}\n`);
    } else {
      write(`\n${flows.length} flow(s):\n`);
      for (const f of flows) write(`  #${f.id} ${safeLine(formatFlowSummary(f, lab).path)}\n`);
    }
  }
}

export async function replay(options: ReplayOptions): Promise<number> {
  const source = await openRecordingSource(options.file);
  try {
    const events = readRecording(source, {
      onWarning: (message) => process.stderr.write(`natscope: warning: ${safeLine(message)}\n`),
    });
    await printReplay(paced(events, { speed: options.speed }), options, (text) => process.stdout.write(text));
  } finally {
    source.close();
  }
  return 0;
}
