// A recording through every frontend's way of consuming one, without a
// terminal: the decoder, replay's text and JSON output with its flow stories,
// the TUI's view model and frames (as blessed tags), and the walkthrough's
// steps answered from the recording. A recording may be refused (a
// NatscopeError naming the line and field); anything else thrown is a crash.
// Also checked: nothing written for a terminal holds a raw control character,
// and the decoder's compiled fast path never accepts an event its ordinary
// parser would refuse.

import { NatscopeError } from '../../src/errors.js';
import { printReplay } from '../../src/commands/replay.js';
import { DecodeError, decodeEvent, encodeEvent } from '../../src/events/codec.js';
import { readRecording, type RecordingSource } from '../../src/events/sources.js';
import { EVENT_SCHEMAS, type NatscopeEvent } from '../../src/events/types.js';
import { replayContext } from '../../scripts/demo/replay-client.js';
import { narrator } from '../../scripts/demo/walkthrough.js';
import { STEPS } from '../../scripts/demo/steps/index.js';
import { initialUi, targets, type UiState } from '../../tui/keys.js';
import { toTags } from '../../tui/text.js';
import { renderFrame } from '../../tui/view.js';
import { ViewModel } from '../../tui/viewModel.js';
import { corpus } from './mutations.js';

export const RECORDINGS = corpus();

// Raw control characters (C0 but the line break, DEL, C1) and bidi overrides:
// what must never reach a terminal from a recording.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must not be there
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function expectSafe(text: string, where: string): void {
  const m = RAW_CONTROL.exec(text);
  if (m) throw new Error(`${where} wrote a raw control character U+${m[0].charCodeAt(0).toString(16)}`);
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

const ORIGINAL = new Set(RECORDINGS.flatMap((r) => r.lines));

// The compiled schemas never let through what the plain ones refuse (checked
// on the lines a mutation changed).
export function checkFastPath(text: string): void {
  for (const line of text.replace(/^\ufeff/, '').split('\n')) {
    if (line === '' || ORIGINAL.has(line)) continue;
    let event: NatscopeEvent;
    try {
      event = decodeEvent(line, 1);
    } catch (error) {
      if (error instanceof DecodeError) continue;
      throw error;
    }
    const plain = EVENT_SCHEMAS[event.kind].safeParse(JSON.parse(line));
    if (!plain.success) throw new Error(`the compiled decoder accepted what the schema refuses: ${line}`);
  }
}

// every pane, with the newest flow's details over them
const DETAILS: UiState = { ...initialUi(), mode: 'details' };

function tui(events: NatscopeEvent[]): void {
  // small rings: a recording of a hundred events needs no room for 50,000
  const model = new ViewModel({ kind: 'replay', file: 'fuzz.jsonl', speed: 0 }, { rows: 200, flows: 200, saved: 500 });
  for (const [i, e] of events.entries()) model.ingest(e, 1000 + i);
  model.sourceState = 'ended';
  const frame = renderFrame({
    model,
    ui: DETAILS,
    cols: 120,
    rows: 40,
    now: 5000,
    targets: targets(model.lab),
    waiting: 0,
  });
  for (const line of frame) expectSafe(toTags(line, true), "the TUI's blessed tags");
  model.savedEvents();
}

async function walkthrough(events: NatscopeEvent[]): Promise<void> {
  let said = '';
  let ctx: ReturnType<typeof replayContext>;
  try {
    ctx = replayContext(
      'fuzz.jsonl',
      events,
      narrator((t) => (said += t), false),
    );
  } catch (error) {
    if (error instanceof NatscopeError) return; // not a recording of the incident lab: refused up front
    throw error;
  }
  for (const step of STEPS) {
    try {
      await step.run(ctx);
    } catch (error) {
      // a step told the recording lacks what it asks (a NatscopeError) is fine; a TypeError is not
      if (!(error instanceof NatscopeError)) throw error;
    }
  }
  // what the steps narrate (claims are printed by the runner: test/scripts/demo/walkthrough.test.ts)
  expectSafe(said, 'the walkthrough');
}

// One mutated recording through every frontend; resolves if it was shown or refused, throws on a crash.
export async function consume(text: string): Promise<'shown' | 'refused'> {
  const source: RecordingSource = {
    name: 'fuzz.jsonl',
    bytes: fromArray([Buffer.from(text)]),
    streaming: false,
    close: () => undefined,
  };
  const events: NatscopeEvent[] = [];
  const warnings: string[] = [];
  try {
    for await (const e of readRecording(source, { onWarning: (w) => warnings.push(w) })) events.push(e);
  } catch (error) {
    if (!(error instanceof NatscopeError)) throw error;
    // a refusal names the recording, and the line where there is one
    if (!/^fuzz\.jsonl(: line \d+[: ]| holds no events)/.test(error.message))
      throw new Error(`an unclear refusal: ${error.message}`);
    return 'refused';
  }
  let out = '';
  await printReplay(fromArray(events), { json: false, flows: true }, (t) => (out += t));
  expectSafe(out, 'replay');
  for (const e of events) expectSafe(encodeEvent(e), 'replay --json');
  for (const w of warnings) expectSafe(w.replace(/\n/g, ''), 'a warning');
  tui(events);
  await walkthrough(events);
  return 'shown';
}
