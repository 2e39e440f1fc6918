// The whole screen as lines of styled text, from the view model, the UI
// state and the terminal's size: a pure function, so a frame can be tested
// as strings and drawn by any terminal layer (screen.ts draws it with blessed).

import type { Flow } from '../src/events/flows.js';
import { formatEvent } from '../src/events/format.js';
import type { FlowStory } from '../src/events/story.js';
import { endpoint } from '../src/events/tuple.js';
import type { RequestEvent } from '../src/events/types.js';
import { selectedIndex, type UiState } from './keys.js';
import { layout, MIN_COLS, MIN_ROWS, type Layout } from './layout.js';
import { rulePanelLines } from './rulePanel.js';
import { fit, overlay, plain, seg, truncate, width, wrap, type Line, type Seg, type Style } from './text.js';
import {
  filterTerms,
  matches,
  type DropRow,
  type MarkerRow,
  type NatRow,
  type SourceInfo,
  type ViewModel,
} from './viewModel.js';

export interface ViewInput {
  model: ViewModel;
  ui: UiState;
  cols: number;
  rows: number;
  // wall clock (ms): flash expiry, events/s
  now: number;
  targets: string[];
  // events waiting while paused
  waiting: number;
}

const BOLD: Style = { bold: true };
const DIM: Style = { fg: 'gray' };
const RED: Style = { fg: 'red', bold: true };
const GREEN: Style = { fg: 'green', bold: true };
const YELLOW: Style = { fg: 'yellow', bold: true };
const SEP = seg(' │ ', DIM);
// pane widths from which a NAT binding or a drop takes one line instead of two
const NAT_ONE_LINE = 84;
const DROP_ONE_LINE = 160;

export function renderFrame(v: ViewInput): Line[] {
  const l = layout(v.cols, v.rows);
  if (l.kind === 'too-small') return tooSmall(v.cols, v.rows);
  const terms = filterTerms(v.ui.filter);
  const lines: Line[] = [...header(v)];
  const natTitle = (name: string, what: string, w: number) =>
    title(`${name} · ${what}`, terms.length ? `filter: ${v.ui.filter}` : '', w);
  if (l.sideBySide) {
    const left = Math.floor((v.cols - 1) / 2);
    const right = v.cols - 1 - left;
    const d = natPane(v, 'dnat', left, l.nat, terms);
    const s = natPane(v, 'snat', right, l.nat, terms);
    lines.push([
      ...natTitle('DNAT', 'destination rewritten', left),
      seg('┬', DIM),
      ...natTitle('SNAT', 'source rewritten', right),
    ]);
    for (let i = 0; i < l.nat; i++) lines.push([...fit(d[i] ?? [], left), seg('│', DIM), ...fit(s[i] ?? [], right)]);
  } else {
    lines.push(
      natTitle('DNAT', 'destination rewritten', v.cols),
      ...fill(natPane(v, 'dnat', v.cols, l.nat, terms), l.nat),
    );
    lines.push(natTitle('SNAT', 'source rewritten', v.cols), ...fill(natPane(v, 'snat', v.cols, l.nat, terms), l.nat));
  }
  const hidden = v.model.routineDrops ? `${v.model.routineDrops} routine socket frees not shown` : '';
  lines.push(title('Drops · where a packet died, and why', hidden, v.cols), ...fill(dropsPane(v, l, terms), l.drops));
  lines.push(...flowsPane(v, l, terms));
  // exactly one line per terminal row, the footer on the last
  const body = fill(lines, v.rows - 1);
  let frame = [...body, footer(v)].map((line) => fit(line, v.cols));
  if (v.ui.mode === 'help') frame = box(frame, 'Keys', helpLines(v.model.source.kind), v);
  if (v.ui.mode === 'pick')
    frame = box(
      frame,
      v.ui.pickFor === 'rules' ? 'Which rule · trace a request from the office to' : 'Request from the office',
      pickLines(v),
      v,
    );
  if (v.ui.mode === 'rules' && v.ui.rules) {
    const all = rulePanelLines(v.ui.rules, v.model.status?.where ?? null, v.cols - 6, v.now, v.model.kernelView());
    const room = v.rows - 6;
    frame = box(
      frame,
      `Which rule · ${v.ui.rules.target} · ↑↓ scroll · Esc close`,
      all.slice(v.ui.scroll, v.ui.scroll + room),
      v,
      true,
    );
  }
  if (v.ui.mode === 'details') {
    const all = detailsLines(v.model, v.ui, v.cols - 6);
    const room = v.rows - 6;
    frame = box(frame, 'Flow details · ↑↓ scroll · Esc close', all.slice(v.ui.scroll, v.ui.scroll + room), v, true);
  }
  return frame;
}

function seconds(s: number): string {
  return s.toFixed(2).padStart(7);
}

function host(v: ViewInput, name: string, pad = 6): Seg {
  const fg = v.model.colourOf(name);
  return seg(name.padEnd(pad), fg ? { fg } : undefined);
}

// A pane's title row: ── Name · what ── note ─────── (ruled to the full width)
function title(text: string, right: string, w: number): Line {
  const line: Line = [seg('── ', DIM), seg(text, BOLD), seg(' ', DIM), ...(right ? [seg(`── ${right} `, DIM)] : [])];
  const cut = truncate(line, w);
  return [...cut, seg('─'.repeat(Math.max(0, w - width(cut))), DIM)];
}

function header(v: ViewInput): Line[] {
  const m = v.model;
  const kp = m.kubeProxy;
  const st = m.status;
  const line1: Line = [seg(' natscope ', { bold: true, inverse: true }), seg(' ')];
  if (m.source.kind === 'cluster') {
    // a real cluster: its kube-proxy is not natscope's to know or change
    const src = m.source;
    line1.push(seg('cluster '), seg(src.context ?? "kubectl's current context", BOLD));
    line1.push(SEP, seg(src.nodes.length ? `nodes ${src.nodes.join(', ')}` : 'nodes: starting'));
    if (src.clocks) line1.push(SEP, seg(src.clocks));
  } else if (kp) {
    line1.push(seg('masqueradeAll '), seg(kp.masqueradeAll ? 'ON' : 'OFF', kp.masqueradeAll ? GREEN : RED), SEP);
    line1.push(
      seg('clusterCIDR '),
      seg(kp.clusterCIDR ?? 'none', BOLD),
      SEP,
      // the iptables backend (nft or legacy) only speaks of iptables mode's rules
      seg(`kube-proxy ${kp.mode}${kp.mode === 'iptables' && m.iptables ? ` (${m.iptables})` : ''}`),
    );
  } else {
    line1.push(seg('kube-proxy: not known yet', DIM));
  }
  if (m.source.kind !== 'cluster') line1.push(SEP, seg(`lab ${m.lab?.backend ?? '?'} · ${whereText(m)}`));
  // the kernel only where it fits: the kube-proxy state matters more
  if (st?.kernel && width(line1) + st.kernel.length + 10 <= v.cols) line1.push(seg(` · kernel ${st.kernel}`, DIM));

  const src = m.source;
  const line2: Line = [seg(' ')];
  if (src.kind === 'replay') {
    const name = src.file.split('/').pop() ?? src.file;
    line2.push(
      seg(
        `replay ${name} (${src.speed === 0 ? 'at once' : `${src.speed}×`}${m.sourceState === 'ended' ? ', ended' : ''})`,
        BOLD,
      ),
    );
  } else {
    line2.push(seg(src.kind === 'cluster' ? 'live, through kubectl' : 'live', BOLD));
  }
  // what the user switched on comes first: it explains why the screen looks still
  if (v.ui.paused)
    line2.push(SEP, seg(`PAUSED${v.waiting ? ` (${v.waiting} waiting)` : ''}`, { ...YELLOW, inverse: true }));
  if (v.ui.filter) line2.push(SEP, seg(`filter: ${v.ui.filter}`, BOLD));
  line2.push(
    SEP,
    seg(`${m.events} events · ${m.eventsPerSecond(v.now)}/s`),
    SEP,
    seg(`lost ${m.lost}`, m.lost ? RED : undefined),
  );
  if (m.counted) line2.push(seg(` · ${m.counted} more counted (over --detail)`, DIM));
  if (m.loadCounted) line2.push(seg(` · ${m.loadCounted} of the lab's load counted`, DIM));
  if (m.skipped) line2.push(seg(` · ${m.skipped} not shown (display behind)`, YELLOW));
  line2.push(
    SEP,
    seg(stateText(v), m.sourceState === 'failed' ? RED : m.sourceState === 'starting' ? YELLOW : undefined),
  );
  return [line1, line2];
}

// Where the lab and the tracer run: what the agent said, or until it has, what was asked for.
function whereText(m: ViewModel): string {
  const placement = m.source.kind === 'live' ? m.source.placement : null;
  const where = m.status?.where ?? (placement === 'on' ? 'micro-vm' : placement === 'off' ? 'native' : null);
  if (where === 'micro-vm') return 'micro-VM';
  return where ?? (placement ? 'native or micro-VM' : '?');
}

function stateText(v: ViewInput): string {
  const m = v.model;
  if (m.sourceState === 'starting') return `starting: ${m.log.last() ?? 'opening the lab'}`;
  if (m.sourceState === 'failed') return `stopped: ${m.sourceNote ?? 'the source failed'}`;
  const st = m.status;
  if (!st && m.source.kind === 'cluster') return `tracing${m.lastError ? ` · error ${m.lastError}` : ''}`;
  if (!st) return m.source.kind === 'replay' ? 'no status in the recording' : 'waiting for the agent';
  const what = st.state === 'tracing' ? `tracing ${st.probes.join(',')}` : st.state;
  return `${m.source.kind === 'replay' ? 'recorded: ' : ''}${what}${m.lastError ? ` · error ${m.lastError}` : ''}`;
}

function natPane(v: ViewInput, which: 'dnat' | 'snat', w: number, h: number, terms: string[]): Line[] {
  const ring = which === 'dnat' ? v.model.dnat : v.model.snat;
  // newest last; a two-line row costs two lines
  const picked = ring.newest(h, (r) => r.type === 'marker' || matches(r.search, terms));
  const blocks = picked.map((r) => (r.type === 'marker' ? [marker(v, r, w)] : natLines(v, r, w)));
  const out = newestFirstFit(blocks, h);
  if (out.length === 0) {
    const empty =
      which === 'dnat'
        ? 'no DNAT binding yet: a request to a ClusterIP makes one'
        : 'no SNAT binding yet: kube-proxy masquerades off-cluster clients only with masqueradeAll or a clusterCIDR';
    return wrap([seg(empty, DIM)], w, ' ', 0).slice(0, h);
  }
  return out;
}

// The newest blocks that fit in h lines, oldest on top.
function newestFirstFit(blocks: Line[][], h: number): Line[] {
  const out: Line[][] = [];
  let used = 0;
  for (let i = blocks.length - 1; i >= 0; i--) {
    const b = blocks[i]!;
    if (used + b.length > h) break;
    out.push(b);
    used += b.length;
  }
  return out.reverse().flat();
}

function marker(v: ViewInput, r: MarkerRow, w: number): Line {
  const text = truncate([seg(`── ${seconds(v.model.seconds(r.t)).trim()} kube-proxy: ${r.text} `, YELLOW)], w);
  return [...text, seg('─'.repeat(Math.max(0, w - width(text))), { fg: 'yellow' })];
}

// One line when the pane is wide enough, else two:
//   node1  192.168.10.10:44600 → 10.96.207.61:3306
//     41.48 mysql  ⇒  → 10.244.2.2:3306
function natLines(v: ViewInput, r: NatRow, w: number): Line[] {
  const before: Line = [seg(`${endpoint(r.before.src, r.before.sport)} → ${endpoint(r.before.dst, r.before.dport)}`)];
  const svc: Line = r.service ? [seg(` (${r.service})`, BOLD)] : [];
  const after =
    r.manip === 'DNAT' ? `→ ${endpoint(r.after.dst, r.after.dport)}` : `${endpoint(r.after.src, r.after.sport)} →`;
  const changed: Line = [seg('  ⇒  ', BOLD), seg(after, { fg: r.manip === 'DNAT' ? 'cyan' : 'magenta', bold: true })];
  if (!r.accepted) changed.push(seg(' (refused)', RED));
  const time = seg(seconds(v.model.seconds(r.t)), DIM);
  if (w >= NAT_ONE_LINE) {
    // the ⇒ in one column, so the rewritten side lines up row under row
    const left = [...before, ...svc];
    return [
      truncate([time, seg(' '), host(v, r.host), seg(' '), ...fit(left, Math.max(width(left), 48)), ...changed], w),
    ];
  }
  const name: Line = r.service ? [seg(` ${r.service}`, BOLD)] : [];
  return [truncate([host(v, r.host), seg(' '), ...before], w), truncate([time, ...name, ...changed], w)];
}

function dropsPane(v: ViewInput, l: Layout, terms: string[]): Line[] {
  const picked = v.model.drops.newest(l.drops, (r) => matches(r.search, terms));
  const blocks = picked.map((r) => dropLines(v, r, v.cols));
  const out = newestFirstFit(blocks, l.drops);
  if (out.length === 0) return [[seg('no drop with a verdict yet', DIM)]];
  return out;
}

// time host ✗ REASON ×n  src (name) → dst (name) FLAGS
//                        a plain explanation (kernel function)
function dropLines(v: ViewInput, r: DropRow, w: number): Line[] {
  const p = r.packet;
  const named = (ip: string, port: number, name: string | null) => `${endpoint(ip, port)}${name ? ` (${name})` : ''}`;
  const packet = `${p.proto === 'tcp' ? '' : `${p.proto} `}${named(p.src, p.sport, r.srcName)} → ${named(p.dst, p.dport, r.dstName)}${p.flags.length ? ` ${p.flags.join('-')}` : ''}`;
  const head: Line = [
    seg(seconds(v.model.seconds(r.t)), DIM),
    seg(' '),
    host(v, r.host),
    seg(' '),
    seg(`✗ ${r.reason}`, RED),
  ];
  if (r.count > 1) head.push(seg(` ×${r.count}`, RED));
  const why: Line = [
    seg(r.explanation, { fg: 'yellow' }),
    seg(` (${r.location}${r.count > 1 ? `, last at ${seconds(v.model.seconds(r.lastT)).trim()}` : ''})`, DIM),
  ];
  if (w >= DROP_ONE_LINE) return [truncate([...head, seg('  '), seg(packet), seg(' — '), ...why], w)];
  const indent = seg(' '.repeat(15));
  return [truncate([...head, seg('  '), seg(packet)], w), truncate([indent, ...why], w)];
}

function flowsPane(v: ViewInput, l: Layout, terms: string[]): Line[] {
  const m = v.model;
  if (m.sourceState === 'starting') {
    const logs = m.log.newest(l.flows);
    return [
      title(
        m.source.kind === 'cluster'
          ? 'Starting · a pod on each node, then bpftrace in each'
          : 'Starting · the lab and the tracer come up (in the micro-VM: about a minute)',
        '',
        v.cols,
      ),
      ...fill(
        logs.map((s) => [seg(s, DIM)]),
        l.flows,
      ),
    ];
  }
  const ids = m.flowList(terms);
  const head = title(
    `Flows · ↑↓ select · Enter details`,
    `${ids.length} flow${ids.length === 1 ? '' : 's'}${v.ui.selected === null ? ' · following the newest' : ''}`,
    v.cols,
  );
  if (ids.length === 0)
    return [
      head,
      ...fill([[seg('no flow yet: a request (r) or any traffic the probes see starts one', DIM)]], l.flows),
    ];
  const sel = selectedIndex(v.ui, ids);
  const flow = m.flow(ids[sel]!)!;
  const story = m.story(flow);
  const storyLines = [
    ...wrap([seg(`#${flow.id} `, BOLD), ...pathLine(story, m.colourOf)], v.cols, ' → ', 4).slice(0, 3),
    outcomeLine(flow, story),
  ];
  const listRoom = Math.max(1, l.flows - storyLines.length);
  const start = Math.max(0, Math.min(sel - listRoom + 1, ids.length - listRoom));
  const list: Line[] = [];
  for (let i = start; i < Math.min(ids.length, start + listRoom); i++) {
    const f = m.flow(ids[i]!)!;
    list.push(flowListLine(v, f, i === sel));
  }
  return [head, ...fill(list, listRoom), ...storyLines.slice(0, l.flows - listRoom)];
}

function fill(lines: Line[], h: number): Line[] {
  const out = lines.slice(0, h);
  while (out.length < h) out.push([]);
  return out;
}

function verdictSegs(story: FlowStory): Line {
  switch (story.verdict) {
    case 'answered':
      return [seg('✓ answered', GREEN)];
    case 'dropped':
      return [seg(`✗ ${story.dropReason} at ${story.dropHost}`, RED)];
    case 'refused':
      return [seg('✗ refused', RED)];
    case 'timeout':
      return [seg('… no answer', YELLOW)];
    case 'in-flight':
      return [seg('…', DIM)];
  }
}

function flowLabel(flow: Flow, story: FlowStory): string {
  const req = flow.requests[flow.requests.length - 1];
  if (req) return `${req.target} via ${req.via}`;
  if (story.service) return `${story.service.replace(/^default\//, '')} (${flow.proto})`;
  return `${flow.proto} ${story.client} → ${story.pod ?? endpoint(flow.first.dst, flow.first.dport)}`;
}

export function requestOutcome(req: RequestEvent): string {
  const ms = `${req.latencyMs} ms`;
  switch (req.outcome) {
    case 'answered':
      return `answered in ${ms}${req.peer ? `, the pod saw ${req.peer}` : ''}`;
    case 'timeout':
      return `timed out after ${ms}`;
    case 'refused':
      return `refused after ${ms}`;
    case 'error':
      return `failed: ${req.detail ?? 'error'}`;
  }
}

function flowListLine(v: ViewInput, flow: Flow, selected: boolean): Line {
  const story = v.model.story(flow);
  const req = flow.requests[flow.requests.length - 1];
  const mark = selected ? { inverse: true, bold: true } : undefined;
  const line: Line = [
    seg(selected ? '▶' : ' ', mark),
    seg(`#${flow.id}`.padEnd(4), mark),
    seg(seconds(v.model.seconds(flow.firstT)), DIM),
    seg('  '),
  ];
  line.push(seg(flowLabel(flow, story).padEnd(20), selected ? BOLD : undefined), seg(' '), ...verdictSegs(story));
  if (req && !(story.verdict === 'answered' && req.outcome === 'answered'))
    line.push(seg(` · ${requestOutcome(req)}`, DIM));
  else if (req) line.push(seg(` in ${req.latencyMs} ms${req.peer ? `, the pod saw ${req.peer}` : ''}`, DIM));
  return line;
}

function outcomeLine(flow: Flow, story: FlowStory): Line {
  const req = flow.requests[flow.requests.length - 1];
  const line: Line = [seg('    ')];
  if (req)
    line.push(
      seg(`${req.target} via ${req.via}: `, BOLD),
      seg(requestOutcome(req), req.outcome === 'answered' ? { fg: 'green' } : { fg: 'red' }),
    );
  else line.push(seg('no request by the lab: traffic the probes saw', DIM));
  if (story.snat) line.push(seg(`  · SNAT on ${story.snat.host} ⇒ ${story.snat.to.ip}`, DIM));
  return line;
}

// The flow's path with each host in its colour; the same text as describeFlow's `path`.
export function pathLine(story: FlowStory, colourOf: (host: string) => Style['fg']): Line {
  const out: Line = [];
  story.hops.forEach((h, i) => {
    if (i > 0) out.push(seg(' → '));
    const fg = colourOf(h.host);
    out.push(seg(h.host, fg ? { fg, bold: true } : BOLD));
    if (h.role === 'drop') out.push(seg(` ✗ ${h.note ?? 'DROP'}`, RED));
    else if (h.role === 'end') out.push(seg(' ✓', GREEN));
    else if (h.note) out.push(seg(` [${h.note}]`));
  });
  if (story.verdict === 'timeout') out.push(seg(' … no answer', YELLOW));
  if (story.verdict === 'refused') out.push(seg(' ✗ refused', RED));
  if (story.verdict === 'in-flight') out.push(seg(' …', DIM));
  return out;
}

function footer(v: ViewInput): Line {
  const ui = v.ui;
  if (ui.mode === 'filter')
    return [
      seg(' filter (host, Service, IP): ', BOLD),
      seg(`${ui.input}█`),
      seg('   Enter apply · empty clears · Esc cancel', DIM),
    ];
  if (ui.mode === 'cidr')
    return [seg(' clusterCIDR (a CIDR, or none): ', BOLD), seg(`${ui.input}█`), seg('   Enter set · Esc cancel', DIM)];
  if (ui.flash && ui.flash.until > v.now) {
    const style = ui.flash.level === 'error' ? RED : ui.flash.level === 'ok' ? GREEN : YELLOW;
    return [seg(' '), seg(ui.flash.text, style)];
  }
  // a real cluster's kube-proxy is not natscope's to change: no lab keys
  const labKeys: [string, string, string][] =
    v.model.source.kind === 'cluster'
      ? []
      : [
          ['r', 'request', 'req'],
          ['m', 'masqueradeAll', 'masq'],
          ['c', 'clusterCIDR', 'cidr'],
          ['w', 'which rule', 'rule'],
        ];
  const keys: [string, string, string][] = [
    ...labKeys,
    ['p', ui.paused ? 'resume' : 'pause', ui.paused ? 'resume' : 'pause'],
    ['/', 'filter', 'filter'],
    ['↑↓', 'select', 'select'],
    ['⏎', 'details', 'details'],
    ['s', 'save', 'save'],
    ['?', 'help', 'help'],
    ['q', 'quit', 'quit'],
  ];
  const build = (short: boolean): Line =>
    keys.flatMap(([k, long, abbr]) => [seg(` ${k}`, { bold: true, inverse: true }), seg(` ${short ? abbr : long} `)]);
  const full = build(false);
  return width(full) <= v.cols ? full : build(true);
}

function helpLines(source: SourceInfo['kind']): Line[] {
  const rows: [string, string][] = [
    ['r', 'send a request from the office: pick a Service (ClusterIP) or a pod'],
    ['m', 'toggle kube-proxy masqueradeAll (rules re-sync; a marker line shows before/after)'],
    ['c', 'set or clear kube-proxy clusterCIDR (the other fix)'],
    ['w', "which rule: trace one request to the selected flow's target (or pick one) with the kernel's nftrace"],
    ['', 'on every host, then its rule path host by host (netns lab; ↑↓ scroll, Esc close)'],
    ['p', 'pause / resume the display (events wait, nothing is lost)'],
    ['/', 'filter every pane by host, Service or IP (words must all match)'],
    ['↑↓ j k', 'select a flow; down past the newest follows new flows again'],
    ['Enter', "the selected flow's events, host by host"],
    ['s', 'save the session as JSONL (natscope tui --replay FILE plays it)'],
    ['q', 'quit: the lab and the tracer stop if this TUI started them'],
  ];
  const out: Line[] = rows.map(([k, what]) => [seg(k.padEnd(8), BOLD), seg(what)]);
  out.push([]);
  out.push([seg('DNAT: kube-proxy sent a ClusterIP connection to a pod (destination rewritten).', DIM)]);
  out.push([seg('SNAT: the source was rewritten too, so the reply must come back through this node.', DIM)]);
  if (source === 'cluster')
    out.push([], [seg('A real cluster: natscope watches it; r, m, c and w need the lab.', YELLOW)]);
  else if (source !== 'live')
    out.push([], [seg('This is a recording: r, m, c and w need a live lab (sudo natscope tui).', YELLOW)]);
  return out;
}

function pickLines(v: ViewInput): Line[] {
  const lab = v.model.lab;
  return v.targets
    .map((t, i) => {
      const svc = lab?.services.find((s) => s.name === t || `${s.namespace}/${s.name}` === t);
      const pod = lab?.pods.find((p) => `pod/${p.name}` === t);
      const where = svc
        ? `ClusterIP ${svc.clusterIP}:${svc.port}`
        : pod
          ? `pod IP ${pod.ip}:${pod.port} on ${pod.node}`
          : '';
      const mark = i === v.ui.pick ? { inverse: true, bold: true } : undefined;
      return [seg(` ${i + 1} `, mark), seg(` ${t.padEnd(12)}`, mark ?? BOLD), seg(` ${where}`, DIM)];
    })
    .concat([[], [seg('1-9 or ↑↓ and Enter · Esc cancel', DIM)]]);
}

// Everything known about the selected flow: its story, requests and events.
export function detailsLines(model: ViewModel, ui: UiState, w: number): Line[] {
  const id = ui.selected;
  const flow = id === null ? undefined : model.flow(id);
  if (!flow) return [[seg('the flow is no longer tracked (it was the oldest of too many)', DIM)]];
  const story = model.story(flow);
  const out: Line[] = [];
  out.push([
    seg(`Flow #${flow.id}`, BOLD),
    seg(
      ` · ${flow.proto} ${endpoint(flow.first.src, flow.first.sport)} → ${endpoint(flow.first.dst, flow.first.dport)}${story.service ? ` (${story.service})` : ''}`,
    ),
  ]);
  out.push(...wrap(pathLine(story, model.colourOf), w, ' → ', 2));
  out.push([seg('verdict: ', BOLD), ...verdictSegs(story)]);
  if (story.dnat)
    out.push([
      seg('DNAT: ', BOLD),
      seg(
        `${story.dnat.host} ${endpoint(story.dnat.orig.dst, story.dnat.orig.dport)} ⇒ ${endpoint(story.dnat.to.ip, story.dnat.to.port)}`,
      ),
    ]);
  out.push([
    seg('SNAT: ', BOLD),
    seg(
      story.snat
        ? `${story.snat.host} source ⇒ ${endpoint(story.snat.to.ip, story.snat.to.port)}`
        : "none: the pod sees the client's own address and answers it directly",
    ),
  ]);
  for (const req of flow.requests)
    out.push([
      seg('request: ', BOLD),
      seg(`${req.target} via ${req.via} ${endpoint(req.dst, req.dport)}: ${requestOutcome(req)}`),
    ]);
  out.push(
    [],
    [
      seg(
        `events (${flow.events.length}${flow.dropped ? `, ${flow.dropped} more not kept` : ''}), seconds since the session began:`,
        BOLD,
      ),
    ],
  );
  const t0 = model.t0 ?? 0;
  for (const e of [...flow.events].sort((a, b) => a.t - b.t)) out.push(...wrap([seg(formatEvent(e, t0))], w, ' ', 10));
  return out;
}

// Draws a bordered box over the frame, centred (or nearly full-screen).
function box(frame: Line[], name: string, content: Line[], v: ViewInput, large = false): Line[] {
  const inner = large ? v.cols - 6 : Math.min(v.cols - 6, Math.max(name.length + 4, ...content.map(width)));
  const h = large ? v.rows - 6 : Math.min(v.rows - 4, content.length);
  const w = inner + 4;
  const x = Math.floor((v.cols - w) / 2);
  const y = large ? 3 : Math.max(2, Math.floor((v.rows - h - 2) / 2));
  const edge = { bold: true } as Style;
  const rows: Line[] = [
    [seg('┌─ ', edge), seg(name, BOLD), seg(` ${'─'.repeat(Math.max(0, w - name.length - 5))}┐`, edge)],
  ];
  for (let i = 0; i < h; i++) rows.push([seg('│ ', edge), ...fit(content[i] ?? [], inner), seg(' │', edge)]);
  rows.push([seg(`└${'─'.repeat(w - 2)}┘`, edge)]);
  const out = [...frame];
  rows.forEach((r, i) => {
    if (y + i < out.length) out[y + i] = overlay(out[y + i]!, fit(r, w), x);
  });
  return out;
}

function tooSmall(cols: number, rows: number): Line[] {
  const msg = [
    `natscope tui needs at least ${MIN_COLS}×${MIN_ROWS}`,
    `this terminal is ${cols}×${rows}: enlarge it`,
    'or press q to quit',
  ];
  const out: Line[] = [];
  const top = Math.max(0, Math.floor((rows - msg.length) / 2));
  for (let i = 0; i < rows; i++) {
    const text = msg[i - top];
    out.push(
      fit(
        text
          ? [
              seg(' '.repeat(Math.max(0, Math.floor((cols - text.length) / 2)))),
              seg(text, i === top ? BOLD : undefined),
            ]
          : [],
        cols,
      ),
    );
  }
  return out;
}

export function frameText(frame: Line[]): string {
  return frame.map((l) => plain(l).trimEnd()).join('\n');
}
