// natscope tui from start to exit: check what can be checked on a plain
// terminal first (a bad recording, no root, no terminal), then draw; feed
// the app from a recording or a live session; on every way out restore the
// terminal before anything is printed, and stop what this run started.

import { openSession } from '../src/agent/control.js';
import type { Placement } from '../src/agent/placement.js';
import type { Session } from '../src/agent/session.js';
import { NatscopeError, describeError } from '../src/errors.js';
import { attachTimeoutMsOf, replayAttaches } from '../src/tracer/outcome.js';
import type { LabBackend } from '../src/events/types.js';
import type { ProbeFamily } from '../src/tracer/parse.js';
import { parseProbeList } from '../src/tracer/probes.js';
import { onCleanup, onInterrupt, runAllCleanups } from '../src/util/cleanup.js';
import { TuiApp } from './app.js';
import { openReplay, play, type OpenedReplay } from './replaySource.js';
import { saveSession } from './save.js';
import { openScreen, type TerminalIo } from './screen.js';
import { ViewModel } from './viewModel.js';

export interface TuiOptions {
  replay?: string;
  speed: number;
  probes: string;
  // events per CPU and second reported whole (0 = all)
  detail?: number;
  prefix: string;
  vm: Placement;
  lab: LabBackend;
  // how long bpftrace may take to attach (undefined: where it runs decides)
  attachTimeoutS?: number;
  // a terminal other than this process's own (tests)
  io?: TerminalIo;
}

export function checkTerminal(io: TerminalIo | undefined): void {
  if (io) return;
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    throw new NatscopeError('natscope tui needs a terminal: its input or output is not one', {
      hint: 'for plain output use natscope replay FILE or natscope trace',
    });
  }
}

// The app drawn on a fresh screen of `io` (else this process's terminal).
// The terminal comes back on any exit: q, an error, a signal, process.exit;
// close() gives it back once the app has finished, and drops those guards.
export function openApp(model: ViewModel, io: TerminalIo | undefined): { app: TuiApp; close: () => void } {
  const screen = openScreen(io);
  const restore = onCleanup(
    'restore the terminal',
    () => screen.destroy(),
    () => screen.destroy(),
  );
  const offInterrupt = onInterrupt(() => screen.destroy());
  const app = new TuiApp({ screen, model, save: (events) => saveSession(events) });
  app.draw();
  return {
    app,
    close: () => {
      screen.destroy();
      restore.cancel();
      offInterrupt();
    },
  };
}

export async function runTui(options: TuiOptions): Promise<number> {
  let recording: OpenedReplay | null = null;
  let probes: ProbeFamily[] = [];
  if (options.replay !== undefined) {
    if (options.attachTimeoutS !== undefined) throw replayAttaches();
    recording = await openReplay(options.replay);
  } else {
    probes = parseProbeList(options.probes);
    if (process.getuid?.() !== 0) {
      throw new NatscopeError('the live TUI needs root: it brings up the lab and the tracer', {
        hint: 'sudo natscope tui, or without root: natscope tui --replay FILE',
      });
    }
  }
  try {
    checkTerminal(options.io);
  } catch (error) {
    recording?.close();
    throw error;
  }

  const model = new ViewModel(
    options.replay !== undefined
      ? { kind: 'replay', file: options.replay, speed: options.speed }
      : { kind: 'live', placement: options.vm },
  );
  const { app, close } = openApp(model, options.io);
  const abort = new AbortController();
  let sourceError: unknown = null;
  let session: Promise<Session> | null = null;

  if (recording) {
    model.sourceState = 'running';
    const replaying = recording;
    replaying.onWarning((message) => {
      model.logLine(`warning: ${message}`);
      app.say(message, 'error');
    });
    play(app, recording.first, recording.rest, options.speed, abort.signal).then(
      () => {
        model.sourceState = 'ended';
        replaying.close();
        app.invalidate();
      },
      (error: unknown) => {
        // what was read stays on screen; the error is printed again on exit
        sourceError = error;
        replaying.close();
        model.sourceState = 'failed';
        model.sourceNote = describeError(error);
        app.say(`replay stopped: ${describeError(error)}`, 'error');
      },
    );
  } else {
    model.logLine(`opening the lab and the tracer (--vm ${options.vm})`);
    session = openSession({
      vm: options.vm,
      lab: options.lab,
      prefix: options.prefix,
      probes,
      bringUp: true,
      detail: options.detail,
      attachTimeoutMs: attachTimeoutMsOf(options.attachTimeoutS),
      onEvent: (event) => app.push(event),
      log: (line) => {
        model.logLine(line);
        app.invalidate();
      },
    });
    session.then(
      (s) => {
        model.sourceState = 'running';
        app.setAgent(s.client);
      },
      (error: unknown) => app.fail(error),
    );
  }

  const result = await app.finished;
  abort.abort();
  close();
  if (session) await closeSession(session);
  if (result.error) throw result.error;
  if (sourceError) throw sourceError;
  return 0;
}

// The terminal hung up (its window closed): stdio now points at /dev/null.
// Node restores the terminal's mode at exit and aborts with an assertion when
// that terminal is gone (after the cleanups ran, but as a crash); it skips
// descriptors that were reopened. open() takes the lowest free descriptor.
// Stops the tracer, and the lab if this session brought it up. A session
// still starting is stopped through the cleanups it has registered so far
// (the micro-VM's), then awaited: a lab half up is taken down once it is up.
async function closeSession(pending: Promise<Session>): Promise<void> {
  let settled = false;
  const done = pending.then(
    (s) => {
      settled = true;
      return s;
    },
    () => {
      settled = true;
      return null;
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  if (!settled) {
    process.stderr.write('natscope tui: stopping the lab and the tracer while they start (up to half a minute)…\n');
    await runAllCleanups();
  }
  const session = await done;
  if (!session) return;
  process.stderr.write('natscope tui: stopping the tracer (and the lab, if this TUI brought it up)…\n');
  await session.close();
}
