import { describe, expect, it } from 'vitest';
import {
  CLUSTER_REFUSAL,
  handleKey,
  initialUi,
  KIND_RULES_REFUSAL,
  REPLAY_REFUSAL,
  ruleTraceEnded,
  targets,
  type KeyContext,
  type UiState,
} from '../../tui/keys.js';
import { incidentModel } from './fixture.js';

const live: KeyContext = {
  live: true,
  ready: true,
  flows: [1, 2, 3],
  targets: ['nginx', 'mysql', 'pod/nginx', 'pod/mysql'],
  kubeProxy: { mode: 'iptables', masqueradeAll: false, clusterCIDR: null },
  detailsLength: 30,
  now: 0,
};
const replay: KeyContext = { ...live, live: false };

function press(keys: string[], ctx = live, start: Partial<UiState> = {}) {
  let ui = { ...initialUi(), ...start };
  const effects = [];
  for (const k of keys) {
    const r = handleKey(ui, k.length === 1 ? { full: k, ch: k } : { full: k }, ctx);
    ui = r.ui;
    effects.push(...r.effects);
  }
  return { ui, effects };
}

describe('handleKey', () => {
  it('q and Ctrl-C quit', () => {
    expect(press(['q']).effects).toEqual([{ type: 'quit' }]);
    expect(press(['C-c'], live, { mode: 'filter' }).effects).toEqual([{ type: 'quit' }]);
  });

  it('r opens the picker and Enter or a digit sends the request', () => {
    expect(press(['r']).ui.mode).toBe('pick');
    expect(press(['r', 'down', 'enter']).effects).toEqual([{ type: 'request', target: 'mysql' }]);
    expect(press(['r', '4']).effects).toEqual([{ type: 'request', target: 'pod/mysql' }]);
    expect(press(['r', 'escape']).effects).toEqual([]);
  });

  it('m toggles masqueradeAll from the state the lab reports', () => {
    expect(press(['m']).effects).toEqual([{ type: 'masquerade', on: true }]);
    const on = { ...live, kubeProxy: { mode: 'iptables' as const, masqueradeAll: true, clusterCIDR: null } };
    expect(press(['m'], on).effects).toEqual([{ type: 'masquerade', on: false }]);
  });

  it('c offers a cluster CIDR when there is none, none when there is one, and checks what is typed', () => {
    expect(press(['c', 'enter']).effects).toEqual([{ type: 'cidr', cidr: '10.244.0.0/16' }]);
    const set = {
      ...live,
      kubeProxy: { mode: 'iptables' as const, masqueradeAll: false, clusterCIDR: '10.244.0.0/16' },
    };
    expect(press(['c', 'enter'], set).effects).toEqual([{ type: 'cidr', cidr: null }]);
    const bad = press(['c', 'C-u', '1', '0', '.', 'x', 'enter']);
    expect(bad.effects).toEqual([]);
    expect(bad.ui.flash?.text).toContain('not an IPv4 CIDR');
    expect(bad.ui.mode).toBe('cidr');
  });

  it('refuses commands on a recording, saying a live lab is needed', () => {
    for (const k of ['r', 'm', 'c']) {
      const r = press([k], replay);
      expect(r.effects).toEqual([]);
      expect(r.ui.flash?.text).toBe(REPLAY_REFUSAL);
    }
  });

  it('refuses commands while the live lab is still starting', () => {
    const r = press(['m'], { ...live, ready: false });
    expect(r.effects).toEqual([]);
    expect(r.ui.flash?.text).toContain('still starting');
  });

  it('p pauses and resumes', () => {
    expect(press(['p']).effects).toEqual([{ type: 'pause', paused: true }]);
    expect(press(['p', 'p']).ui.paused).toBe(false);
  });

  it('/ edits the filter; Enter applies it, Esc keeps the old one', () => {
    expect(press(['/', 'n', 'o', 'd', 'e', 'backspace', 'enter']).ui.filter).toBe('nod');
    expect(press(['/', 'x', 'escape'], live, { filter: 'vpn' }).ui.filter).toBe('vpn');
    expect(press(['/', 'C-u', 'enter'], live, { filter: 'vpn' }).ui.filter).toBe('');
  });

  it('↑↓ and j k select flows; moving down onto the newest follows new flows again', () => {
    expect(press(['up']).ui.selected).toBe(2);
    expect(press(['k', 'k', 'k', 'k']).ui.selected).toBe(1);
    expect(press(['k', 'j']).ui.selected).toBe(null);
  });

  it('Enter opens the selected flow; arrows scroll; Esc closes', () => {
    const r = press(['k', 'enter', 'down', 'down']);
    expect(r.ui).toMatchObject({ mode: 'details', selected: 2, scroll: 2 });
    expect(press(['enter', 'escape']).ui.mode).toBe('main');
    expect(press(['enter'], { ...live, flows: [] }).ui.mode).toBe('main');
  });

  it('? shows the help and any of ? q Esc closes it', () => {
    expect(press(['?']).ui.mode).toBe('help');
    expect(press(['?', 'q']).effects).toEqual([]);
    expect(press(['?', 'q']).ui.mode).toBe('main');
  });

  it('s asks to save', () => {
    expect(press(['s'], replay).effects).toEqual([{ type: 'save' }]);
  });

  it("w traces the selected flow's target and opens its panel at once, to show the trace's progress", () => {
    const r = press(['w'], { ...live, selectedTarget: 'mysql', now: 500 });
    expect(r.effects).toEqual([{ type: 'ruleTrace', target: 'mysql' }]);
    expect(r.ui.mode).toBe('rules');
    expect(r.ui.rules).toEqual({ state: 'running', target: 'mysql', since: 500 });
  });

  it('w with no target to follow asks which, with the request picker', () => {
    const picking = press(['w'], { ...live, selectedTarget: null });
    expect(picking.ui).toMatchObject({ mode: 'pick', pickFor: 'rules' });
    expect(picking.effects).toEqual([]);
    expect(press(['w', 'down', 'enter'], { ...live, selectedTarget: null }).effects).toEqual([
      { type: 'ruleTrace', target: 'mysql' },
    ]);
    expect(press(['w', '3'], { ...live, selectedTarget: null }).effects).toEqual([
      { type: 'ruleTrace', target: 'pod/nginx' },
    ]);
    // a target the lab does not offer (a flow the probes saw, not the lab's) is asked for too
    expect(press(['w'], { ...live, selectedTarget: 'redis' }).ui.mode).toBe('pick');
    // and r's picker still sends a request
    expect(press(['w', 'escape', 'r', '2']).effects).toEqual([{ type: 'request', target: 'mysql' }]);
  });

  it('w on a recording, a real cluster or the kind lab says why not in one line, and sends nothing', () => {
    for (const [ctx, why] of [
      [replay, REPLAY_REFUSAL],
      [{ ...live, live: false, refusal: CLUSTER_REFUSAL }, CLUSTER_REFUSAL],
      [{ ...live, rulesRefusal: KIND_RULES_REFUSAL }, KIND_RULES_REFUSAL],
    ] as const) {
      const r = press(['w'], { ...ctx, selectedTarget: 'mysql' });
      expect(r.effects).toEqual([]);
      expect(r.ui.mode).toBe('main');
      expect(r.ui.flash?.text).toBe(why);
    }
    expect(KIND_RULES_REFUSAL).toContain('sudo natscope tui');
  });

  it('the rule panel scrolls and closes; w while its trace runs shows it again instead of tracing twice', () => {
    const ctx = { ...live, selectedTarget: 'mysql' };
    const open = press(['w', 'down', 'down', 'pagedown'], ctx);
    expect(open.ui).toMatchObject({ mode: 'rules', scroll: 12 });
    const again = press(['w', 'escape', 'w'], ctx);
    expect(again.effects).toEqual([{ type: 'ruleTrace', target: 'mysql' }]);
    expect(again.ui.mode).toBe('rules');
  });

  it('a trace that ends while its panel is closed is said in the footer, and w then shows it', () => {
    const ctx = { ...live, selectedTarget: 'mysql' };
    const closed = press(['w', 'escape'], ctx).ui;
    const ended = ruleTraceEnded(closed, { state: 'failed', target: 'mysql', error: 'no lab is up' }, 10);
    expect(ended.flash?.text).toBe('rule trace of mysql failed: w shows why');
    const shown = handleKey(ended, { full: 'w', ch: 'w' }, ctx);
    expect(shown.effects).toEqual([]);
    expect(shown.ui).toMatchObject({ mode: 'rules', rules: { state: 'failed', seen: true } });
    // once seen, w in the panel (or after it) traces again
    expect(handleKey(shown.ui, { full: 'w', ch: 'w' }, ctx).effects).toEqual([{ type: 'ruleTrace', target: 'mysql' }]);
    const open = press(['w'], ctx).ui;
    expect(ruleTraceEnded(open, { state: 'failed', target: 'mysql', error: 'x' }, 10)).toMatchObject({
      flash: null,
      rules: { seen: true },
    });
  });

  it("offers the recording's Services by name and its pods as pod/NAME", () => {
    expect(targets(incidentModel().lab)).toEqual(['nginx', 'mysql', 'pod/nginx', 'pod/mysql']);
  });
});
