import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { type Command, parseReply, widen } from '../../src/agent/protocol.js';
import { NatscopeError } from '../../src/errors.js';
import type { NatscopeEvent } from '../../src/events/types.js';
import { RuleTraceSchema } from '../../src/ruletrace/rulePath.js';
import { TuiApp } from '../../tui/app.js';
import { REPLAY_REFUSAL, type Key } from '../../tui/keys.js';
import type { TuiScreen } from '../../tui/screen.js';
import { plain, type Line } from '../../tui/text.js';
import { ViewModel } from '../../tui/viewModel.js';
import { burst, INCIDENT, incidentEvents } from './fixture.js';
import { fixtureText } from '../helpers.js';

// what the agent answered `trace --rules --request mysql` on the lab (test/fixtures/ruletrace/README.md)
const RULE_TRACE = fixtureText('ruletrace', 'iptables-incident', 'natscope.json');

interface Stub extends TuiScreen {
  last: Line[] | null;
  press(key: string): void;
  footer(): string;
}

function stubScreen(paint?: () => void): Stub {
  let onKey: (k: Key) => void = () => undefined;
  return {
    cols: 100,
    rows: 30,
    colour: false,
    last: null,
    paint(frame) {
      paint?.();
      this.last = frame;
    },
    onKey(h) {
      onKey = h;
    },
    onResize() {},
    text() {
      return (this.last ?? []).map(plain);
    },
    destroy() {},
    press(key) {
      onKey(key.length === 1 ? { full: key, ch: key } : { full: key });
    },
    footer() {
      return plain(this.last?.[this.rows - 1] ?? []);
    },
  };
}

const apps: TuiApp[] = [];
afterEach(() => {
  for (const a of apps.splice(0)) a.stop();
});

function makeApp(source: 'live' | 'replay', screen = stubScreen(), saved: NatscopeEvent[][] = []) {
  const model = new ViewModel(
    source === 'live' ? { kind: 'live', placement: 'off' } : { kind: 'replay', file: INCIDENT, speed: 0 },
  );
  const app = new TuiApp({
    screen,
    model,
    save: async (events) => {
      saved.push(events);
      return './natscope-tui-test.jsonl';
    },
    frameMs: 10,
  });
  apps.push(app);
  return { app, model, screen };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(5);
  }
}

describe('TuiApp', () => {
  it('a burst of 50k events does not hold a key press back', async () => {
    const { app, model, screen } = makeApp('replay');
    for (const e of burst(50_000)) app.push(e);
    // a key arriving right after the burst: the event loop must reach it between slices
    const asked = performance.now();
    let lag = -1;
    setTimeout(() => {
      lag = performance.now() - asked;
      screen.press('p');
    }, 0);
    await until(() => lag >= 0);
    expect(lag).toBeLessThan(100);
    expect(app.ui.paused).toBe(true);
    expect(app.waiting).toBeGreaterThan(0);
    screen.press('p');
    await until(() => app.waiting === 0, 10_000);
    expect(model.events).toBe(50_000);
  });

  it('draws at most about one frame per frame period, however many events arrive', async () => {
    const { app } = makeApp('replay');
    const start = performance.now();
    for (const e of burst(20_000)) app.push(e);
    await until(() => app.waiting === 0, 10_000);
    await sleep(30);
    const elapsed = performance.now() - start;
    expect(app.frames).toBeLessThanOrEqual(Math.ceil(elapsed / 10) + 2);
    expect(app.frames).toBeGreaterThan(0);
  });

  it('holds events back while paused and shows them on resume', async () => {
    const { app, model, screen } = makeApp('replay');
    screen.press('p');
    for (const e of incidentEvents()) app.push(e);
    await sleep(20);
    expect(model.events).toBe(0);
    expect(app.waiting).toBe(incidentEvents().length);
    screen.press('p');
    await until(() => model.events === incidentEvents().length);
  });

  it('keeps at most maxQueue events waiting and counts the rest as not shown', () => {
    const model = new ViewModel({ kind: 'live', placement: 'off' });
    const app = new TuiApp({ screen: stubScreen(), model, save: async () => '', maxQueue: 10 });
    apps.push(app);
    app.key({ full: 'p', ch: 'p' });
    for (const e of burst(15)) app.push(e);
    expect(app.waiting).toBe(10);
    expect(model.skipped).toBe(5);
  });

  it('sends r, m and c to the agent and says what came of them', async () => {
    const { app, model, screen } = makeApp('live');
    for (const e of incidentEvents().slice(0, 2)) app.push(e); // the config and the lab
    await until(() => model.lab !== null);
    model.sourceState = 'running';
    const calls: Command[] = [];
    const timeout = incidentEvents().find((e) => e.kind === 'request' && e.outcome === 'timeout');
    app.setAgent({
      async call(c) {
        calls.push(widen(c));
        const sync = { kubeProxy: { mode: 'iptables', masqueradeAll: true, clusterCIDR: null }, syncMs: 42 };
        return parseReply(c.cmd, c.cmd === 'request' ? timeout : sync);
      },
    });
    screen.press('r');
    screen.press('2');
    await until(() => screen.footer().includes('mysql: timed out after 3003.4 ms'));
    screen.press('m');
    await until(() => screen.footer().includes('masqueradeAll on: kube-proxy rules re-synced in 42 ms'));
    screen.press('c');
    screen.press('enter');
    await until(() => screen.footer().includes('clusterCIDR 10.244.0.0/16'));
    expect(calls).toEqual([
      { cmd: 'request', target: 'mysql', timeoutMs: 3000 },
      { cmd: 'set', masqueradeAll: true },
      { cmd: 'set', clusterCIDR: '10.244.0.0/16' },
    ]);
  });

  it('says so on screen when the lab cannot carry a command out, and keeps running', async () => {
    const { app, model, screen } = makeApp('live');
    for (const e of incidentEvents().slice(0, 2)) app.push(e);
    await until(() => model.lab !== null);
    model.sourceState = 'running';
    app.setAgent({
      call: async () => {
        throw new NatscopeError('the agent is gone', { hint: 'start the lab again' });
      },
    });
    screen.press('m');
    await until(() => screen.footer().includes('set failed: the agent is gone (fix: start the lab again)'));
    screen.press('?');
    await until(() => screen.text().some((l) => l.includes('Keys')));
  });

  it('w traces a request through the agent, shows its progress, then the rule path to scroll and close', async () => {
    const { app, model, screen } = makeApp('live');
    for (const e of incidentEvents().slice(0, 2)) app.push(e);
    await until(() => model.lab !== null);
    model.sourceState = 'running';
    const calls: Command[] = [];
    let answer: (text: string) => void = () => undefined;
    app.setAgent({
      call(c) {
        calls.push(widen(c));
        return new Promise((resolve) => {
          answer = (text) => resolve(parseReply(c.cmd, JSON.parse(text)));
        });
      },
    });
    // no flow yet: w asks which target
    screen.press('w');

    await until(() => screen.text().some((l) => l.includes('Which rule · trace a request from the office to')));
    screen.press('2');
    await until(() => screen.text().some((l) => l.includes('tracing one request to mysql from the office…')));
    expect(calls).toEqual([{ cmd: 'ruleTrace', target: 'mysql', timeoutMs: 3000 }]);
    answer(RULE_TRACE);
    await until(() => screen.text().some((l) => l.includes('kube-proxy: iptables mode, masqueradeAll=false')));
    const text = screen.text().join('\n');
    expect(text).toContain('Which rule · mysql');
    expect(text).toContain(
      'mysql (10.96.207.61:3306) from 192.168.10.10:26682: no answer within 3003.2 ms (timed out)',
    );
    expect(text).toContain('node1 request 192.168.10.10:26682 → 10.96.207.61:3306 (syn)');
    expect(text).toContain('DNAT to 10.244.2.2:3306');
    // the summary is at the end: scrolled to
    for (let i = 0; i < 200 && !screen.text().some((l) => l.includes('Rule path:')); i++) {
      screen.press('down');
      await sleep(12);
    }
    for (let i = 0; i < 8; i++) screen.press('down');
    await until(() =>
      screen
        .text()
        .some((l) =>
          l.includes('  vpn reply 10.244.2.2:3306 → 192.168.10.10:26682 (syn | ack): dropped by filter FORWARD'),
        ),
    );
    expect(app.ui.scroll).toBeGreaterThan(0);
    screen.press('escape');
    await until(() => !screen.text().some((l) => l.includes('Which rule')));
    expect(calls).toHaveLength(1);
  });

  it("w shows kernel text with its control characters escaped, and a failed trace's error and fix", async () => {
    const { app, model, screen } = makeApp('live');
    for (const e of incidentEvents().slice(0, 2)) app.push(e);
    await until(() => model.lab !== null);
    model.sourceState = 'running';
    // a rule comment carrying a screen-clearing escape sequence, as nft would print it from a hostile ruleset
    const hostile = RuleTraceSchema.parse(JSON.parse(RULE_TRACE));
    const step = hostile.rulePath.packets.flatMap((p) => p.steps)[0]!;
    step.rule = `${step.rule} comment "\u001b[2Jgone"`;
    let fail = false;
    app.setAgent({
      async call(c) {
        if (fail) throw new NatscopeError('--rules traces the netns lab only', { hint: 'sudo natscope lab up' });
        return parseReply(c.cmd, hostile);
      },
    });
    screen.press('w');
    screen.press('2');
    await until(() => screen.text().some((l) => l.includes('[2Jgone')));
    const text = screen.text().join('\n');
    expect(text).toContain('comment "\\x1b[2Jgone"');
    expect(text).not.toContain('\u001b');
    fail = true;
    screen.press('w');
    await until(() => screen.text().some((l) => l.includes('rule trace of mysql failed')));
    expect(screen.text().join('\n')).toContain('--rules traces the netns lab only (fix: sudo natscope lab up)');
  });

  it('tells a replay that commands need a live lab, and sends nothing', async () => {
    const { screen } = makeApp('replay');
    screen.press('m');
    await until(() => screen.footer().includes(REPLAY_REFUSAL));
  });

  it('saves the events it has seen and says where', async () => {
    const saved: NatscopeEvent[][] = [];
    const { app, model, screen } = makeApp('replay', stubScreen(), saved);
    for (const e of incidentEvents()) app.push(e);
    await until(() => model.events === incidentEvents().length);
    screen.press('s');
    await until(() => screen.footer().includes('saved 70 events to ./natscope-tui-test.jsonl'));
    expect(saved[0]).toHaveLength(70);
  });

  it('q ends the app', async () => {
    const { app, screen } = makeApp('replay');
    screen.press('q');
    await expect(app.finished).resolves.toEqual({});
  });

  it('a frame that cannot be drawn ends the app with the error instead of a broken screen', async () => {
    const { app } = makeApp(
      'replay',
      stubScreen(() => {
        throw new Error('terminal gone');
      }),
    );
    app.draw();
    const result = await app.finished;
    expect(result.error).toEqual(new Error('terminal gone'));
  });
});
