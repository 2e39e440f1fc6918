import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initialUi, targets, type UiState } from '../../tui/keys.js';
import { MIN_COLS, MIN_ROWS } from '../../tui/layout.js';
import { plain, width } from '../../tui/text.js';
import { frameText, pathLine, renderFrame } from '../../tui/view.js';
import { ViewModel } from '../../tui/viewModel.js';
import { incidentModel } from './fixture.js';
import { capturedCounts, FIXTURES, recordedEvents } from '../helpers.js';

const NFTABLES = join(FIXTURES, 'recordings', 'incident-nftables.jsonl');

function frame(model: ViewModel, cols: number, rows: number, ui: Partial<UiState> = {}) {
  return renderFrame({
    model,
    ui: { ...initialUi(), ...ui },
    cols,
    rows,
    now: 1500,
    targets: targets(model.lab),
    waiting: 0,
  });
}

// the flow whose request to mysql timed out
function brokenFlowId(model: ViewModel): number {
  return model
    .flowList([])
    .find((id) => model.flow(id)!.requests.some((r) => r.target === 'mysql' && r.outcome === 'timeout'))!;
}

describe('renderFrame', () => {
  it('fills exactly the terminal, every line exactly as wide as it', () => {
    const model = incidentModel();
    for (const [cols, rows] of [
      [100, 30],
      [120, 40],
      [70, 24],
      [MIN_COLS, MIN_ROWS],
      [200, 60],
    ] as const) {
      const lines = frame(model, cols, rows);
      expect(lines).toHaveLength(rows);
      for (const line of lines) expect(width(line)).toBe(cols);
    }
  });

  it("names kube-proxy's nftables mode in the header, without the iptables backend (a recording of the nftables lab)", () => {
    const model = new ViewModel({ kind: 'replay', file: NFTABLES, speed: 0 });
    for (const e of recordedEvents(NFTABLES)) model.ingest(e, 1000);
    const header = frameText(frame(model, 120, 40)).split('\n')[0]!;
    expect(header).toContain('kube-proxy nftables');
    expect(header).not.toContain('(nft)');
    expect(header).toContain('masqueradeAll ON');
  });

  it('fits 100×30 with DNAT and SNAT side by side, the header naming masqueradeAll and where the lab ran', () => {
    const text = frameText(frame(incidentModel(), 100, 30));
    const lines = text.split('\n');
    expect(lines[0]).toContain('masqueradeAll OFF');
    expect(lines[0]).toContain('clusterCIDR none');
    expect(lines[0]).toContain('kube-proxy iptables (nft)');
    expect(lines[0]).toContain('micro-VM');
    expect(lines[1]).toContain('replay incident.jsonl');
    expect(lines[1]).toContain('lost 0');
    // nothing past the detail budget in a walkthrough's pace: not mentioned
    expect(lines[1]).not.toContain('counted');
    const titles = lines.find((l) => l.includes('DNAT · destination rewritten'))!;
    expect(titles).toContain('SNAT · source rewritten');
    // the SNAT pane's masquerade to node1, on the right of the rule
    const snatRow = lines.find((l) => l.includes('10.0.1.11:40476 →'))!;
    expect(snatRow.indexOf('10.0.1.11')).toBeGreaterThan(titles.indexOf('┬'));
  });

  it('says how many events the probes only counted, once there are some', () => {
    const model = incidentModel();
    for (const e of capturedCounts()) model.ingest(e, 1000);
    const header = frameText(frame(model, 160, 30)).split('\n')[1]!;
    expect(header).toContain(`${model.counted} more counted (over --detail)`);
  });

  it('writes a DNAT binding as before ⇒ after with the ClusterIP named', () => {
    const text = frameText(frame(incidentModel(), 200, 40));
    expect(text).toMatch(/node1 {2}192\.168\.10\.10:44600 → 10\.96\.207\.61:3306 \(mysql\) +⇒ {2}→ 10\.244\.2\.2:3306/);
  });

  it("shows the vpn's drop with its reason, a plain explanation and the SYN-ACK", () => {
    const text = frameText(frame(incidentModel(), 100, 30));
    expect(text).toContain(
      'vpn    ✗ NETFILTER_DROP ×5  10.244.2.2:3306 (mysql) → 192.168.10.10:44600 (office) SYN-ACK',
    );
    expect(text).toContain('a reply the VPN never saw a request for');
  });

  it('shows the selected flow as a path across hosts and the outcome of its request', () => {
    const model = incidentModel();
    const text = frameText(frame(model, 120, 40, { selected: brokenFlowId(model) }));
    expect(text).toContain(
      'office → vpn → node1 [DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306] → node2 → mysql → node2 → vpn ✗ NETFILTER_DROP',
    );
    expect(text).toContain('mysql via service: timed out after 3003.4 ms');
  });

  it('follows the newest flow: the fixed request, answered, and the peer the pod saw', () => {
    const text = frameText(frame(incidentModel(), 120, 40));
    expect(text).toContain('[DNAT 10.96.207.61:3306 ⇒ 10.244.2.2:3306 + SNAT ⇒ 10.0.1.11]');
    expect(text).toContain('office ✓');
    expect(text).toContain('the pod saw 10.0.1.11:1816');
  });

  it('stacks the panes on a narrow terminal', () => {
    const lines = frameText(frame(incidentModel(), 70, 24)).split('\n');
    const dnat = lines.findIndex((l) => l.includes('DNAT · destination rewritten'));
    const snat = lines.findIndex((l) => l.includes('SNAT · source rewritten'));
    expect(dnat).toBeGreaterThan(0);
    expect(snat).toBeGreaterThan(dnat);
    expect(lines[dnat]).not.toContain('SNAT');
  });

  it('says the minimum size when the terminal is too small', () => {
    const text = frameText(frame(incidentModel(), 50, 15));
    expect(text).toContain(`needs at least ${MIN_COLS}×${MIN_ROWS}`);
    expect(text).toContain('this terminal is 50×15');
  });

  it('filters every pane, keeping the kube-proxy markers', () => {
    const text = frameText(frame(incidentModel(), 120, 40, { filter: 'nginx' }));
    expect(text).toContain('filter: nginx');
    expect(text).toContain('10.96.48.29:80');
    expect(text).not.toContain('10.96.207.61:3306 (mysql)');
    expect(text).toContain('kube-proxy: masqueradeAll on');
  });

  it('shows PAUSED and how many events wait', () => {
    const model = incidentModel();
    const lines = renderFrame({
      model,
      ui: { ...initialUi(), paused: true },
      cols: 100,
      rows: 30,
      now: 0,
      targets: [],
      waiting: 42,
    });
    expect(plain(lines[1]!)).toContain('PAUSED (42 waiting)');
  });

  it('opens the flow details over the panes, with every event of the flow', () => {
    const model = incidentModel();
    const text = frameText(frame(model, 120, 40, { mode: 'details', selected: brokenFlowId(model) }));
    expect(text).toContain('Flow details');
    expect(text).toContain('DROP NETFILTER_DROP at nft_do_chain');
    expect(text).toContain('SNAT: none');
  });

  it('lists the lab’s Services and pods when r opens the picker', () => {
    const text = frameText(frame(incidentModel(), 100, 30, { mode: 'pick', pick: 1 }));
    expect(text).toMatch(/1 +nginx +ClusterIP 10\.96\.48\.29:80/);
    expect(text).toMatch(/2 +mysql +ClusterIP 10\.96\.207\.61:3306/);
    expect(text).toMatch(/4 +pod\/mysql +pod IP 10\.244\.2\.2:3306 on node2/);
  });

  it('shows the prompt in the footer while typing a filter', () => {
    const lines = frame(incidentModel(), 100, 30, { mode: 'filter', input: 'node' });
    expect(plain(lines[29]!)).toContain('filter (host, Service, IP): node█');
  });

  it('colours the path by host and keeps the text describeFlow wrote', () => {
    const model = incidentModel();
    for (const id of model.flowList([])) {
      const story = model.story(model.flow(id)!);
      const line = pathLine(story, model.colourOf);
      expect(plain(line)).toBe(story.path);
      expect(line.find((s) => s.text === 'node1')?.style?.fg ?? 'green').toBe('green');
    }
  });

  it('shows what the live session is doing while it starts', () => {
    const model = incidentModel();
    Object.assign(model, { sourceState: 'starting' });
    model.logLine('vm: booting the micro-VM');
    const text = frameText(frame(model, 100, 30));
    expect(text).toContain('starting: vm: booting the micro-VM');
    expect(text).toContain('Starting · the lab and the tracer come up');
  });
});
