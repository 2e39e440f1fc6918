// natscope cluster tui: the live screen (tui/) fed from a real cluster's
// merged event stream, the same one `cluster trace` prints (src/cluster/
// session.ts): node names as hosts, Kubernetes names for addresses, and a
// header saying which context and nodes, and how far their clocks agree.
// Bad options and a missing terminal are reported before the screen opens;
// on every way out (q, Ctrl-C, a signal, an error, a node's tracing ending)
// the terminal comes back first, then bpftrace is stopped on every node and
// the node pods are deleted.

import {
  type ClusterSessionOptions,
  type ClusterSession,
  checkSessionOptions,
  clockUncertainty,
  describeTracers,
  openClusterSession,
} from '../cluster/session.js';
import { NatscopeError } from '../errors.js';
import { parseProbeList } from '../tracer/probes.js';
import type { TerminalIo } from '../../tui/screen.js';
import type { ClusterSource } from '../../tui/viewModel.js';

export interface ClusterTuiOptions extends ClusterSessionOptions {
  probes: string;
  // a terminal other than this process's own (tests)
  io?: TerminalIo;
}

export async function clusterTui(options: ClusterTuiOptions): Promise<number> {
  const [{ checkTerminal, openApp }, { ViewModel }] = await Promise.all([
    import('../../tui/run.js'),
    import('../../tui/viewModel.js'),
  ]);
  const probes = parseProbeList(options.probes);
  const checked = checkSessionOptions(options);
  checkTerminal(options.io);

  const source: ClusterSource = { kind: 'cluster', context: options.context ?? null, nodes: [], clocks: null };
  const model = new ViewModel(source);
  // the terminal comes back on any exit, before the pods are deleted
  const { app, close: closeScreen } = openApp(model, options.io);
  const log = (line: string) => {
    model.logLine(line);
    app.invalidate();
  };

  const abort = new AbortController();
  log(`reading the cluster (${options.context ? `context ${options.context}` : "kubectl's current context"})`);
  const opening = openClusterSession({
    ...options,
    checked,
    probes,
    log,
    signal: abort.signal,
    onEvent: (event) => app.push(event),
  });
  opening.then(
    (session) => {
      source.nodes = session.tracers.map((t) => t.node);
      source.clocks = clockUncertainty(session.tracers.map((t) => t.clock));
      model.sourceState = 'running';
      log(`tracing ${probes.join(',')} on ${describeTracers(session.tracers)}`);
      void session.endedEarly.then((node) =>
        app.fail(
          new NatscopeError(`tracing on node ${node} ended early`, {
            hint: `see why with: natscope cluster trace --nodes ${node}`,
          }),
        ),
      );
    },
    (error: unknown) => app.fail(error),
  );

  const result = await app.finished;
  closeScreen();
  const summary = await close(opening, abort);
  if (result.error) throw result.error;
  if (summary) {
    process.stderr.write(
      `natscope cluster tui: ${summary.received} events from ${source.nodes.length} node(s), ${summary.lost} lost; node pods deleted\n`,
    );
  }
  return 0;
}

// Stops the session: one still starting is asked to stop (it deletes its
// pods and fails, which is expected here), a running one stops its tracers
// and deletes its pods.
async function close(opening: Promise<ClusterSession>, abort: AbortController) {
  abort.abort();
  const session = await opening.catch(() => null);
  if (!session) return null;
  process.stderr.write('natscope cluster tui: stopping bpftrace on the nodes and deleting the node pods…\n');
  return session.stop();
}
