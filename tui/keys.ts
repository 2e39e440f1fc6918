// What each key does, as a pure function: (state, key) → (state, effects).
// Effects (send a request, change kube-proxy, save, quit) are carried out by
// the app; keeping them out of here lets every key be tested as data.

import { parseCidr } from '../src/events/tuple.js';
import type { KubeProxyConfig, LabStatus } from '../src/events/types.js';
import type { RuleTrace } from '../src/ruletrace/rulePath.js';

export type Mode = 'main' | 'help' | 'details' | 'filter' | 'cidr' | 'pick' | 'rules';

// The rule trace of `w` (which rule): one request traced with the kernel's
// nftrace by the agent (its ruleTrace command), shown in a panel. What it
// found is kept as the agent's reply; the panel's lines come from it
// (tui/rulePanel.ts).
export type RuleTraceState =
  | { state: 'running'; target: string; since: number }
  | { state: 'done'; target: string; trace: RuleTrace; seen: boolean }
  | { state: 'failed'; target: string; error: string; seen: boolean };

export interface Flash {
  text: string;
  level: 'info' | 'ok' | 'error';
  until: number;
}

export interface UiState {
  mode: Mode;
  // the prompt's text (filter, clusterCIDR)
  input: string;
  // highlighted target in the request picker
  pick: number;
  // what the picker's choice is for: a request (r) or a rule trace (w)
  pickFor: 'request' | 'rules';
  // the last rule trace (w), running or finished
  rules: RuleTraceState | null;
  // first line shown of the flow details
  scroll: number;
  filter: string;
  paused: boolean;
  // selected flow id; null follows the newest flow
  selected: number | null;
  flash: Flash | null;
}

export interface Key {
  // blessed's key name: "up", "enter", "escape", "backspace", "C-c", "q", …
  full: string;
  // the character typed, for prompts
  ch?: string;
}

export type Effect =
  | { type: 'request'; target: string }
  | { type: 'ruleTrace'; target: string }
  | { type: 'masquerade'; on: boolean }
  | { type: 'cidr'; cidr: string | null }
  | { type: 'pause'; paused: boolean }
  | { type: 'save' }
  | { type: 'quit' };

export interface KeyContext {
  // a live lab answers commands; a recording cannot
  live: boolean;
  // what a key that sends a command says when it cannot (a recording's refusal by default)
  refusal?: string;
  // the session is up (commands can be sent)
  ready: boolean;
  // selectable flow ids, oldest first
  flows: number[];
  targets: string[];
  kubeProxy: KubeProxyConfig | null;
  // why `w` cannot trace rules here (the kind lab), null when it can
  rulesRefusal?: string | null;
  // the target of the selected flow's request or Service (what `w` traces), null if none
  selectedTarget?: string | null;
  // lines of the open panel (details or rule path), for scrolling
  detailsLength: number;
  now: number;
}

export const FLASH_MS = 5000;
export const REPLAY_REFUSAL = 'replay: commands need a live lab (sudo natscope tui)';
export const CLUSTER_REFUSAL = 'cluster: natscope only watches a real cluster (requests: natscope cluster diagnose)';
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
export const KIND_RULES_REFUSAL =
  'kind lab: w traces rules on the netns lab only (sudo natscope tui, without --lab kind)';

export function initialUi(): UiState {
  return {
    mode: 'main',
    input: '',
    pick: 0,
    pickFor: 'request',
    rules: null,
    scroll: 0,
    filter: '',
    paused: false,
    selected: null,
    flash: null,
  };
}

export function flash(ui: UiState, text: string, level: Flash['level'], now: number): UiState {
  return { ...ui, flash: { text, level, until: now + FLASH_MS } };
}

// What `r` offers: every Service by name, every pod as pod/NAME (the lab's own target names).
export function targets(lab: LabStatus | null): string[] {
  if (!lab) return [];
  return [
    ...lab.services.map((s) => (s.namespace === 'default' ? s.name : `${s.namespace}/${s.name}`)),
    ...lab.pods.map((p) => `pod/${p.name}`),
  ];
}

// Index of the selected flow in `flows` (the newest when following).
export function selectedIndex(ui: UiState, flows: number[]): number {
  if (ui.selected === null) return flows.length - 1;
  const i = flows.indexOf(ui.selected);
  return i >= 0 ? i : flows.length - 1;
}

interface Result {
  ui: UiState;
  effects: Effect[];
}

const printable = (k: Key) =>
  k.ch !== undefined && k.ch.length === 1 && k.ch >= ' ' && k.ch !== '\x7f' && !k.full.startsWith('C-');

export function handleKey(ui: UiState, key: Key, ctx: KeyContext): Result {
  if (key.full === 'C-c') return { ui, effects: [{ type: 'quit' }] };
  switch (ui.mode) {
    case 'filter':
    case 'cidr':
      return prompt(ui, key, ctx);
    case 'pick':
      return picker(ui, key, ctx);
    case 'help':
      if (['escape', 'q', '?', 'enter'].includes(key.full)) return done({ ...ui, mode: 'main' });
      return done(ui);
    case 'details':
      return details(ui, key, ctx);
    case 'rules':
      // w again: the same target traced again (once the last trace has ended)
      if (key.full === 'w' && ui.rules && ui.rules.state !== 'running') return startRuleTrace(ui, ui.rules.target, ctx);
      return details(ui, key, ctx);
    case 'main':
      return main(ui, key, ctx);
  }
}

const done = (ui: UiState, effects: Effect[] = []): Result => ({ ui, effects });

function command(ui: UiState, ctx: KeyContext): UiState | null {
  if (!ctx.live) return flash(ui, ctx.refusal ?? REPLAY_REFUSAL, 'error', ctx.now);
  if (!ctx.ready)
    return flash(
      ui,
      'the lab is still starting: commands work once the header says ready or tracing',
      'error',
      ctx.now,
    );
  return null;
}

function main(ui: UiState, key: Key, ctx: KeyContext): Result {
  switch (key.full) {
    case 'q':
      return done(ui, [{ type: 'quit' }]);
    case '?':
      return done({ ...ui, mode: 'help' });
    case 'p': {
      const paused = !ui.paused;
      return done({ ...ui, paused }, [{ type: 'pause', paused }]);
    }
    case '/':
      return done({ ...ui, mode: 'filter', input: ui.filter });
    case 's':
      return done(ui, [{ type: 'save' }]);
    case 'up':
    case 'k':
      return done(move(ui, ctx.flows, -1));
    case 'down':
    case 'j':
      return done(move(ui, ctx.flows, +1));
    case 'enter':
      if (ctx.flows.length === 0)
        return done(flash(ui, 'no flow yet: make a request (r) or wait for traffic', 'info', ctx.now));
      return done({ ...ui, mode: 'details', scroll: 0, selected: ctx.flows[selectedIndex(ui, ctx.flows)]! });
    case 'r': {
      const refused = command(ui, ctx);
      if (refused) return done(refused);
      if (ctx.targets.length === 0)
        return done(flash(ui, 'the lab lists no Service or pod to request', 'error', ctx.now));
      return done({ ...ui, mode: 'pick', pickFor: 'request', pick: Math.min(ui.pick, ctx.targets.length - 1) });
    }
    case 'w':
      return whichRule(ui, ctx);
    case 'm': {
      const refused = command(ui, ctx);
      if (refused) return done(refused);
      const on = !(ctx.kubeProxy?.masqueradeAll ?? false);
      return done(
        flash(
          ui,
          `masqueradeAll → ${on ? 'on' : 'off'}: kube-proxy re-syncs the rules on every node…`,
          'info',
          ctx.now,
        ),
        [{ type: 'masquerade', on }],
      );
    }
    case 'c': {
      const refused = command(ui, ctx);
      if (refused) return done(refused);
      // offer the other state: a CIDR when there is none, "none" when there is one
      return done({ ...ui, mode: 'cidr', input: ctx.kubeProxy?.clusterCIDR ? 'none' : DEFAULT_CLUSTER_CIDR });
    }
    default:
      return done(ui);
  }
}

// Moving down onto the newest flow goes back to following new flows.
function move(ui: UiState, flows: number[], by: number): UiState {
  if (flows.length === 0) return ui;
  const i = Math.max(0, Math.min(flows.length - 1, selectedIndex(ui, flows) + by));
  return { ...ui, selected: i === flows.length - 1 ? null : flows[i]! };
}

function prompt(ui: UiState, key: Key, ctx: KeyContext): Result {
  if (key.full === 'escape') return done({ ...ui, mode: 'main', input: '' });
  if (key.full === 'backspace') return done({ ...ui, input: ui.input.slice(0, -1) });
  if (key.full === 'C-u') return done({ ...ui, input: '' });
  if (key.full === 'enter') {
    const text = ui.input.trim();
    if (ui.mode === 'filter') return done({ ...ui, mode: 'main', input: '', filter: text, selected: null });
    if (text === '' || text === 'none') return done({ ...ui, mode: 'main', input: '' }, [{ type: 'cidr', cidr: null }]);
    if (!parseCidr(text))
      return done(flash(ui, `${text} is not an IPv4 CIDR like ${DEFAULT_CLUSTER_CIDR} (or none)`, 'error', ctx.now));
    return done({ ...ui, mode: 'main', input: '' }, [{ type: 'cidr', cidr: text }]);
  }
  if (printable(key) && ui.input.length < 64) return done({ ...ui, input: ui.input + key.ch });
  return done(ui);
}

function picker(ui: UiState, key: Key, ctx: KeyContext): Result {
  const n = ctx.targets.length;
  if (key.full === 'escape' || key.full === 'q') return done({ ...ui, mode: 'main' });
  if (key.full === 'up' || key.full === 'k') return done({ ...ui, pick: (ui.pick + n - 1) % n });
  if (key.full === 'down' || key.full === 'j') return done({ ...ui, pick: (ui.pick + 1) % n });
  let pick = -1;
  if (key.full === 'enter') pick = ui.pick;
  else if (key.ch && /^[1-9]$/.test(key.ch)) pick = Number(key.ch) - 1;
  const target = ctx.targets[pick];
  if (target === undefined) return done(ui);
  if (ui.pickFor === 'rules') return startRuleTrace({ ...ui, pick }, target, ctx);
  return done(flash({ ...ui, mode: 'main', pick }, `requesting ${target} from the office…`, 'info', ctx.now), [
    { type: 'request', target },
  ]);
}

// w: which rule did it. A trace still running, or one that ended while its
// panel was closed, is shown rather than started again; otherwise the
// selected flow's target is traced, or the picker asks which.
function whichRule(ui: UiState, ctx: KeyContext): Result {
  const refused = command(ui, ctx);
  if (refused) return done(refused);
  if (ctx.rulesRefusal) return done(flash(ui, ctx.rulesRefusal, 'error', ctx.now));
  const last = ui.rules;
  if (last?.state === 'running') return done({ ...ui, mode: 'rules', scroll: 0 });
  if (last && !last.seen) return done({ ...ui, mode: 'rules', scroll: 0, rules: { ...last, seen: true } });
  const target = ctx.selectedTarget;
  if (target && ctx.targets.includes(target)) return startRuleTrace(ui, target, ctx);
  if (ctx.targets.length === 0) return done(flash(ui, 'the lab lists no Service or pod to trace', 'error', ctx.now));
  return done({ ...ui, mode: 'pick', pickFor: 'rules', pick: Math.min(ui.pick, ctx.targets.length - 1) });
}

function startRuleTrace(ui: UiState, target: string, ctx: KeyContext): Result {
  return done({ ...ui, mode: 'rules', scroll: 0, rules: { state: 'running', target, since: ctx.now } }, [
    { type: 'ruleTrace', target },
  ]);
}

// The agent's answer to a rule trace: kept, and said in the footer if its panel was closed meanwhile.
export function ruleTraceEnded(
  ui: UiState,
  ended: { state: 'done'; target: string; trace: RuleTrace } | { state: 'failed'; target: string; error: string },
  now: number,
): UiState {
  const seen = ui.mode === 'rules';
  const next = { ...ui, rules: { ...ended, seen } };
  if (seen) return next;
  const text =
    ended.state === 'done'
      ? `rule path of ${ended.target} traced: w shows it`
      : `rule trace of ${ended.target} failed: w shows why`;
  return flash(next, text, ended.state === 'done' ? 'ok' : 'error', now);
}

function details(ui: UiState, key: Key, ctx: KeyContext): Result {
  const max = Math.max(0, ctx.detailsLength - 1);
  switch (key.full) {
    case 'escape':
    case 'enter':
    case 'q':
      return done({ ...ui, mode: 'main' });
    case 'up':
    case 'k':
      return done({ ...ui, scroll: Math.max(0, ui.scroll - 1) });
    case 'down':
    case 'j':
      return done({ ...ui, scroll: Math.min(max, ui.scroll + 1) });
    case 'pageup':
      return done({ ...ui, scroll: Math.max(0, ui.scroll - 10) });
    case 'pagedown':
    case 'space':
      return done({ ...ui, scroll: Math.min(max, ui.scroll + 10) });
    default:
      return done(ui);
  }
}
