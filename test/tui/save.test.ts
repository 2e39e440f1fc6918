import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/events/codec.js';
import { saveSession, sessionFileName } from '../../tui/save.js';
import { incidentEvents } from './fixture.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'natscope-tui-save-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('saveSession', () => {
  it('writes JSONL that decodes back to the same events', async () => {
    const events = incidentEvents();
    const path = await saveSession(events, dir, new Date(2026, 0, 2, 3, 4, 5));
    expect(path).toMatch(/natscope-tui-20260102-030405\.jsonl$/);
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines.map((l, i) => decodeEvent(l, i + 1))).toEqual(events);
  });

  it('never overwrites an earlier save', async () => {
    const date = new Date(2026, 0, 2, 3, 4, 6);
    const a = await saveSession(incidentEvents().slice(0, 1), dir, date);
    const b = await saveSession(incidentEvents().slice(0, 2), dir, date);
    expect(a).not.toBe(b);
    expect(b).toMatch(/-2\.jsonl$/);
  });

  it('names files by local date and time', () => {
    expect(sessionFileName(new Date(2026, 10, 26, 7, 5, 9))).toBe('natscope-tui-20261126-070509.jsonl');
  });
});
