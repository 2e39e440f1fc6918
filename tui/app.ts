// The running TUI. Events wait in a queue that is drained in slices of a
// few milliseconds, so a burst of 50k events never holds the event loop
// away from a key press; frames are drawn at most every `frameMs` however
// many events or keys arrive; keys become UI state and effects, and effects
// (commands to the agent, saving) report back as a line in the footer.

import type { AgentClient } from '../src/agent/client.js';
import type { CommandName, CommandOf, Reply } from '../src/agent/protocol.js';
import { NatscopeError, describeError } from '../src/errors.js';
import type { KubeProxySync, NatscopeEvent } from '../src/events/types.js';
import {
  CLUSTER_REFUSAL,
  flash,
  handleKey,
  initialUi,
  ruleTraceEnded,
  selectedIndex,
  targets,
  type Effect,
  type Flash,
  type Key,
  type UiState,
} from './keys.js';
import type { TuiScreen } from './screen.js';
import { rulePanelLines } from './rulePanel.js';
import { detailsLines, renderFrame, requestOutcome } from './view.js';
import { filterTerms, shortService, type ViewModel } from './viewModel.js';

// What the app needs of an agent client (src/agent/client.ts).
export type Commands = Pick<AgentClient, 'call'>;

export interface AppOptions {
  screen: TuiScreen;
  model: ViewModel;
  save: (events: NatscopeEvent[]) => Promise<string>;
  // wall clock in ms (tests and benchmarks may drive it)
  now?: () => number;
  frameMs?: number;
  sliceMs?: number;
  // events held at most (paused, or arriving faster than they are shown)
  maxQueue?: number;
  requestTimeoutMs?: number;
}

export interface AppResult {
  error?: unknown;
}

// a replay stops reading ahead above this many waiting events
const HIGH_WATER = 5000;

export class TuiApp {
  ui: UiState = initialUi();
  // frames drawn and the time spent computing and painting them (benchmarks)
  frames = 0;
  renderMs = 0;
  readonly finished: Promise<AppResult>;

  private readonly screen: TuiScreen;
  private readonly model: ViewModel;
  private readonly saveFn: AppOptions['save'];
  private readonly now: () => number;
  private readonly frameMs: number;
  private readonly sliceMs: number;
  private readonly maxQueue: number;
  private readonly requestTimeoutMs: number;
  private queue: (NatscopeEvent | undefined)[] = [];
  private head = 0;
  private agent: Commands | null = null;
  private pumpScheduled = false;
  private frameTimer: NodeJS.Timeout | null = null;
  private lastFrame = -Infinity;
  private readonly tick: NodeJS.Timeout;
  private stopped = false;
  private waiters: (() => void)[] = [];
  private finish!: (result: AppResult) => void;

  constructor(o: AppOptions) {
    this.screen = o.screen;
    this.model = o.model;
    this.saveFn = o.save;
    this.now = o.now ?? (() => performance.now());
    this.frameMs = o.frameMs ?? 33;
    this.sliceMs = o.sliceMs ?? 8;
    this.maxQueue = o.maxQueue ?? 200_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 3000;
    this.finished = new Promise((resolve) => {
      this.finish = resolve;
    });
    this.screen.onKey((key) => this.key(key));
    this.screen.onResize(() => this.invalidate());
    // events/s and footer messages change with time alone
    this.tick = setInterval(() => this.invalidate(), 1000);
  }

  get waiting(): number {
    return this.queue.length - this.head;
  }

  push(event: NatscopeEvent): void {
    if (this.stopped) return;
    if (this.waiting >= this.maxQueue) {
      this.model.skipped++;
      return;
    }
    this.queue.push(event);
    this.schedulePump();
  }

  // Resolves when a reader may push more: not paused, and the queue not
  // past its high-water mark (a replay waits here instead of reading ahead).
  ready(): Promise<void> {
    if (this.stopped || (!this.ui.paused && this.waiting < HIGH_WATER)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  setAgent(agent: Commands | null): void {
    this.agent = agent;
    this.invalidate();
  }

  say(text: string, level: Flash['level']): void {
    this.ui = flash(this.ui, text, level, this.now());
    this.invalidate();
  }

  key(key: Key): void {
    if (this.stopped) return;
    try {
      const { ui, effects } = handleKey(this.ui, key, this.keyContext());
      this.ui = ui;
      for (const effect of effects) this.effect(effect);
      this.invalidate();
    } catch (error) {
      this.fail(error);
    }
  }

  // Ends the app with an error (shown after the terminal is restored).
  fail(error: unknown): void {
    this.stop();
    this.finish({ error });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tick);
    if (this.frameTimer) clearTimeout(this.frameTimer);
    this.wake();
  }

  // Asks for a frame: drawn now if the last one is older than frameMs, else when it is.
  invalidate(): void {
    if (this.stopped || this.frameTimer) return;
    const wait = Math.max(0, this.lastFrame + this.frameMs - this.now());
    this.frameTimer = setTimeout(() => {
      this.frameTimer = null;
      this.draw();
    }, wait);
  }

  draw(): void {
    if (this.stopped) return;
    try {
      const start = performance.now();
      this.lastFrame = this.now();
      this.screen.paint(
        renderFrame({
          model: this.model,
          ui: this.ui,
          cols: this.screen.cols,
          rows: this.screen.rows,
          now: this.now(),
          targets: targets(this.model.lab),
          waiting: this.waiting,
        }),
      );
      this.frames++;
      this.renderMs += performance.now() - start;
    } catch (error) {
      this.fail(error);
    }
  }

  private keyContext() {
    const terms = filterTerms(this.ui.filter);
    const flows = this.model.flowList(terms);
    const offered = targets(this.model.lab);
    return {
      live: this.model.source.kind === 'live',
      refusal: this.model.source.kind === 'cluster' ? CLUSTER_REFUSAL : undefined,
      ready: this.agent !== null && this.model.sourceState === 'running',
      flows,
      targets: offered,
      selectedTarget: this.selectedTarget(flows, offered),
      kubeProxy: this.model.kubeProxy,
      detailsLength: this.panelLength(),
      now: this.now(),
    };
  }

  // Lines of the open panel, for scrolling.
  private panelLength(): number {
    const w = this.screen.cols - 6;
    if (this.ui.mode === 'details') return detailsLines(this.model, this.ui, w).length;
    if (this.ui.mode === 'rules' && this.ui.rules)
      return rulePanelLines(this.ui.rules, this.model.status?.where ?? null, w, this.now(), this.model.kernelView())
        .length;
    return 0;
  }

  // What `w` traces: the selected flow's request target, else its Service, if the lab offers it.
  private selectedTarget(flows: number[], offered: string[]): string | null {
    if (flows.length === 0) return null;
    const flow = this.model.flow(flows[selectedIndex(this.ui, flows)]!);
    if (!flow) return null;
    const requested = flow.requests[flow.requests.length - 1]?.target;
    const service = shortService(this.model.story(flow).service);
    for (const name of [requested, service]) if (name && offered.includes(name)) return name;
    return null;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.ui.paused || this.stopped || this.waiting === 0) return;
    this.pumpScheduled = true;
    // setImmediate, not a microtask: pending I/O (key presses) runs between slices
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.pumpScheduled = false;
    if (this.ui.paused || this.stopped) return;
    const start = performance.now();
    const now = this.now();
    let n = 0;
    while (this.head < this.queue.length) {
      const event = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      this.model.ingest(event, now);
      if ((++n & 63) === 0 && performance.now() - start >= this.sliceMs) break;
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (n > 0) this.invalidate();
    if (this.waiting < HIGH_WATER / 2) this.wake();
    this.schedulePump();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private effect(effect: Effect): void {
    switch (effect.type) {
      case 'quit':
        this.stop();
        this.finish({});
        return;
      case 'pause':
        if (!effect.paused) {
          this.wake();
          this.schedulePump();
        }
        return;
      case 'save':
        void this.save();
        return;
      case 'request':
        void this.command({ cmd: 'request', target: effect.target, timeoutMs: this.requestTimeoutMs }, (req) => [
          `${req.target}: ${requestOutcome(req)}`,
          req.outcome === 'answered' ? 'ok' : 'error',
        ]);
        return;
      case 'ruleTrace':
        void this.ruleTrace(effect.target);
        return;
      case 'masquerade':
        void this.command({ cmd: 'set', masqueradeAll: effect.on }, (r) => [
          `masqueradeAll ${effect.on ? 'on' : 'off'}: ${synced(r)}`,
          'ok',
        ]);
        return;
      case 'cidr':
        void this.command({ cmd: 'set', clusterCIDR: effect.cidr }, (r) => [
          `clusterCIDR ${effect.cidr ?? 'none'}: ${synced(r)}`,
          'ok',
        ]);
        return;
    }
  }

  private async command<K extends CommandName>(
    command: CommandOf<K>,
    describe: (result: Reply<K>) => [string, Flash['level']],
  ): Promise<void> {
    const agent = this.agent;
    if (!agent) {
      this.say('the lab is not up: commands need a running session', 'error');
      return;
    }
    try {
      const [text, level] = describe(await agent.call(command));
      this.say(text, level);
    } catch (error) {
      const hint = error instanceof NatscopeError && error.hint ? ` (fix: ${error.hint})` : '';
      this.say(`${command.cmd} failed: ${describeError(error)}${hint}`, 'error');
    }
  }

  // The agent traces one request with nftrace (its ruleTrace command); the panel shows what it found.
  private async ruleTrace(target: string): Promise<void> {
    const ended = (
      result:
        | { state: 'done'; target: string; trace: Reply<'ruleTrace'> }
        | { state: 'failed'; target: string; error: string },
    ) => {
      if (this.stopped) return;
      this.ui = ruleTraceEnded(this.ui, result, this.now());
      this.invalidate();
    };
    const agent = this.agent;
    if (!agent) {
      ended({ state: 'failed', target, error: 'the lab is not up: commands need a running session' });
      return;
    }
    try {
      const trace = await agent.call({ cmd: 'ruleTrace', target, timeoutMs: this.requestTimeoutMs });
      ended({ state: 'done', target, trace });
    } catch (error) {
      const hint = error instanceof NatscopeError && error.hint ? ` (fix: ${error.hint})` : '';
      ended({ state: 'failed', target, error: `${describeError(error)}${hint}` });
    }
  }

  private async save(): Promise<void> {
    const events = this.model.savedEvents();
    try {
      const path = await this.saveFn(events);
      this.say(`saved ${events.length} events to ${path} (replay: natscope tui --replay ${path})`, 'ok');
    } catch (error) {
      this.say(`could not save: ${describeError(error)}`, 'error');
    }
  }
}

function synced(result: KubeProxySync): string {
  return `kube-proxy rules re-synced in ${result.syncMs} ms`;
}
