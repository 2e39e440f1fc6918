// The streams' one declaration against what the probes themselves document
// and print: each probe header's value list is the declared field order,
// and its maps are the ones the reader looks for.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { PROBES } from '../../src/tracer/probes.js';
import { FIELDS, STREAMS } from '../../src/tracer/streams.js';
import { ROOT } from '../helpers.js';

const header = (file: string) => readFileSync(join(ROOT, 'probes', file), 'utf8');

// "value  (T, NETNS, …)" in a probe's header, as a list of field names
function documentedValues(text: string): string[] {
  const m = /value\s+\(([^)]*)\)/.exec(text);
  if (!m) throw new Error('no value list in the header');
  // the list may wrap onto the comment's next lines
  return m[1]!.split(',').map((f) =>
    f
      .replace(/^[\s*]+/, '')
      .trim()
      .toLowerCase(),
  );
}

describe('the stream declarations', () => {
  test.each(Object.values(PROBES))("$file's header lists the declared fields, in order", (probe) => {
    const layouts = new Set(probe.streams.map((s) => STREAMS[s].fields));
    expect(layouts.size).toBe(1);
    expect(documentedValues(header(probe.file))).toEqual([...layouts][0]);
  });

  test.each(Object.values(PROBES))('$file keeps the maps the reader looks for', (probe) => {
    const text = header(probe.file);
    for (const s of probe.streams) {
      const info = STREAMS[s];
      for (const map of [info.sequenceMap, ...info.buffers, ...info.counts, ...info.budgets])
        expect(text, `${probe.file}: ${map}`).toContain(`${map}[`);
    }
  });

  test('every layout names each field once, and the text value is one of them', () => {
    for (const fields of Object.values(FIELDS)) expect(new Set(fields).size).toBe(fields.length);
    for (const info of Object.values(STREAMS)) expect(info.textField).toBeLessThan(info.fields.length);
  });
});
