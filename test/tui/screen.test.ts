import { afterEach, describe, expect, it, vi } from 'vitest';
import { initialUi, targets, type Key } from '../../tui/keys.js';
import { openScreen, terminalName, type TuiScreen } from '../../tui/screen.js';
import { renderFrame } from '../../tui/view.js';
import { ViewModel } from '../../tui/viewModel.js';
import { incidentEvents, incidentModel } from './fixture.js';
import { fakeTerminal, type FakeTerminal } from './terminal.js';

const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007\u009b31m';

let open: TuiScreen[] = [];
afterEach(() => {
  for (const s of open) s.destroy();
  open = [];
});

function screenOn(term: FakeTerminal, env: NodeJS.ProcessEnv = {}): TuiScreen {
  const screen = openScreen({ input: term.input, output: term.output, terminal: 'xterm-256color', env });
  open.push(screen);
  return screen;
}

function paintIncident(screen: TuiScreen, ui = initialUi()) {
  const model = incidentModel();
  const brokenId = model.flowList([]).find((id) => model.flow(id)!.requests.some((r) => r.outcome === 'timeout'))!;
  screen.paint(
    renderFrame({
      model,
      ui: { ...ui, selected: brokenId },
      cols: screen.cols,
      rows: screen.rows,
      now: 0,
      targets: targets(model.lab),
      waiting: 0,
    }),
  );
}

describe('openScreen (blessed, into a fake 100×30 terminal)', () => {
  it('draws the incident: both NAT panes, the drop and the flow path are on screen', () => {
    const screen = screenOn(fakeTerminal(100, 30));
    expect([screen.cols, screen.rows]).toEqual([100, 30]);
    paintIncident(screen);
    const rows = screen.text();
    expect(rows).toHaveLength(30);
    expect(rows[0]).toContain('masqueradeAll OFF');
    const titles = rows.find((r) => r.includes('DNAT · destination rewritten'))!;
    expect(titles).toContain('SNAT · source rewritten');
    expect(rows.some((r) => r.includes('10.0.1.11:40476 →'))).toBe(true);
    expect(rows.some((r) => r.includes('vpn    ✗ NETFILTER_DROP ×5'))).toBe(true);
    const path = rows.findIndex((r) => r.includes('office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306]'));
    expect(path).toBeGreaterThan(0);
    expect(`${rows[path]} ${rows[path + 1]}`).toContain('vpn ✗ NETFILTER_DROP');
    expect(rows[29]).toContain('q quit');
  });

  it('writes colour escapes on a colour terminal and none when NO_COLOR is set', async () => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a colour escape is what is looked for
    const colourFg = /\x1b\[[0-9;]*(3[1-7]|9[0-7]|38;5;\d+)m/;
    const withColour = fakeTerminal(100, 30);
    const a = screenOn(withColour);
    expect(a.colour).toBe(true);
    paintIncident(a);
    // blessed flushes its output on a later tick
    await vi.waitFor(() => expect(withColour.written()).toMatch(colourFg), { timeout: 10_000, interval: 10 });

    const plainTerm = fakeTerminal(100, 30);
    const b = screenOn(plainTerm, { NO_COLOR: '1' });
    expect(b.colour).toBe(false);
    paintIncident(b);
    await vi.waitFor(() => expect(plainTerm.written()).toContain('NETFILTER_DROP'), { timeout: 10_000, interval: 10 });
    expect(plainTerm.written()).not.toMatch(colourFg);
    expect(b.text().some((r) => r.includes('NETFILTER_DROP'))).toBe(true);
  });

  it('reports keys by name, Enter once', async () => {
    const term = fakeTerminal(100, 30);
    const screen = screenOn(term);
    const keys: Key[] = [];
    screen.onKey((k) => keys.push(k));
    term.input.write('q');
    term.input.write('\r');
    term.input.write('\x1b[A');
    term.input.write('/');
    await vi.waitFor(() => expect(keys.map((k) => k.full)).toEqual(['q', 'enter', 'up', '/']), {
      timeout: 10_000,
      interval: 10,
    });
    expect(keys[0]!.ch).toBe('q');
  });

  it('follows a resize to a narrow terminal', () => {
    const term = fakeTerminal(100, 30);
    const screen = screenOn(term);
    let resized = 0;
    screen.onResize(() => resized++);
    term.resize(70, 24);
    expect(resized).toBe(1);
    expect([screen.cols, screen.rows]).toEqual([70, 24]);
    paintIncident(screen);
    const rows = screen.text();
    expect(rows).toHaveLength(24);
    expect(rows.every((r) => r.length === 70)).toBe(true);
    expect(rows.find((r) => r.includes('DNAT · destination rewritten'))).not.toContain('SNAT');
  });

  it('restores the terminal when destroyed: normal screen, cursor shown', () => {
    const term = fakeTerminal(100, 30);
    const screen = openScreen({ input: term.input, output: term.output, terminal: 'xterm-256color', env: {} });
    paintIncident(screen);
    screen.destroy();
    screen.destroy();
    const out = term.written();
    expect(out).toContain('\x1b[?1049h');
    expect(out.lastIndexOf('\x1b[?1049l')).toBeGreaterThan(out.lastIndexOf('\x1b[?1049h'));
    expect(out).toContain('\x1b[?25h');
  });

  it('names a terminfo entry blessed can parse for tmux and screen', () => {
    expect(terminalName('tmux-256color')).toBe('xterm-256color');
    expect(terminalName('screen-256color')).toBe('xterm-256color');
    expect(terminalName('xterm')).toBe('xterm');
    expect(terminalName(undefined)).toBe('xterm');
  });

  it('draws a recording whose names carry terminal escapes with the escapes shown, not acted on', () => {
    const term = fakeTerminal(120, 40);
    const screen = screenOn(term);
    const model = new ViewModel({ kind: 'replay', file: 'hostile.jsonl', speed: 0 });
    for (const e of incidentEvents()) model.ingest(e.host === 'vpn' ? { ...e, host: `vpn${HOSTILE}` } : e, 1000);
    screen.paint(
      renderFrame({ model, ui: initialUi(), cols: 120, rows: 40, now: 0, targets: targets(model.lab), waiting: 0 }),
    );
    // what a terminal would act on: the recording's clear-screen, title and C1 sequences never reach it
    expect(term.written()).not.toContain('\u001b[2J\u001b]0;pwned');
    expect(term.written()).not.toContain('\u001b]0;pwned');
    expect(term.written()).not.toMatch(/[\u0080-\u009f]/);
    expect(screen.text().join('\n')).toContain('vpn\\x1b[2J\\x1b]0;pwned\\x07');
  });
});
