// natscope cluster trace and cluster tui: the probes on a real cluster's
// nodes, the events here. On each selected node a short-lived pod runs
// bpftrace alone (src/cluster/nodePods.ts); its raw output comes back
// through kubectl exec and is parsed, counted and named here
// (src/cluster/transport.ts, names.ts). Every node's stream goes into one,
// on one clock, in time order (session.ts, merge.ts): printed line by line
// (trace) or drawn by the TUI (tui). What natscope created is deleted on
// every way out; what a killed run left is swept by the next once its time
// has passed.

import {
  type ClusterSessionOptions,
  checkSessionOptions,
  clockNote,
  describeClocks,
  describeTracers,
  openClusterSession,
} from '../cluster/session.js';
import { namesSuffix } from '../cluster/names.js';
import { DEFAULT_IMAGE, DEFAULT_NAMESPACE } from '../cluster/nodePods.js';
import { encodeEvent } from '../events/codec.js';
import { formatEvent } from '../events/format.js';
import { parseProbeList } from '../tracer/probes.js';
import { progress } from '../util/progress.js';
import { safeLine } from '../util/terminal.js';
import { untilEnd } from './trace.js';

export interface ClusterTraceOptions extends ClusterSessionOptions {
  probes: string;
  json: boolean;
}

export { DEFAULT_IMAGE, DEFAULT_NAMESPACE };

export async function clusterTrace(options: ClusterTraceOptions): Promise<number> {
  const probes = parseProbeList(options.probes);
  const checked = checkSessionOptions(options);
  const step = progress('cluster');

  let t0: number | undefined;
  let shown = 0;
  const session = await openClusterSession({
    ...options,
    checked,
    probes,
    log: step.log,
    onEvent: (event) => {
      t0 ??= event.t;
      shown++;
      process.stdout.write(
        `${options.json ? encodeEvent(event) : formatEvent(event, t0) + safeLine(namesSuffix(event))}\n`,
      );
    },
  });
  const { tracers } = session;
  step.log(
    `tracing ${probes.join(',')} on ${describeTracers(tracers)}; ${options.durationS ? `for ${options.durationS} s` : 'Ctrl-C to stop'}`,
  );
  step.log(`clocks, onto this machine's: ${describeClocks(tracers)}`);

  const end = untilEnd(options.durationS);
  const stoppedBy = await Promise.race([end.ended.then(() => null), session.endedEarly]);
  const summary = await session.stop();
  step.done(
    `${summary.received} events from ${tracers.length} node(s), ${summary.lost} lost; ${shown} shown${summary.late ? ` (${summary.late} arrived too late to be put in time order)` : ''}; node pods deleted. ${clockNote(tracers.map((t) => t.clock))}`,
  );
  end.done();
  if (stoppedBy !== null) {
    process.stderr.write(`natscope: tracing on node ${stoppedBy} ended early\n`);
    return 1;
  }
  return 0;
}
