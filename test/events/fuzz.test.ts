// Mutation fuzzing of the real recordings (test/events/mutations.ts): each
// mutated recording goes through the decoder and every frontend
// (test/events/frontends.ts) and is either shown or refused with a clear
// error; a crash fails the test, shrunk to the smallest mutation that crashes.
//
// The suite runs a fixed seed (FUZZ_RUNS mutations, 20,000 by default);
// `npm run fuzz` runs many more from a fresh seed, printed so a failure can be
// replayed with FUZZ_SEED=… FUZZ_RUNS=….

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkFastPath, consume, RECORDINGS } from './frontends.js';
import { mutate, plan } from './mutations.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 20_000);
// FUZZ_SEED=random: a fresh seed each run (npm run fuzz), printed below
const SEED =
  process.env.FUZZ_SEED === 'random'
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(process.env.FUZZ_SEED ?? 20_251_205);

describe('mutated real recordings', () => {
  test(
    `the decoder's compiled fast path accepts no mutated line its schema refuses (${RUNS} mutations)`,
    () => {
      fc.assert(
        fc.property(plan, (p) => {
          checkFastPath(mutate(RECORDINGS[p.recording % RECORDINGS.length]!.lines, p.mutations));
        }),
        { numRuns: RUNS, seed: SEED },
      );
    },
    Math.max(60_000, RUNS * 5),
  );

  test('every recording in the corpus goes through every frontend as it is', async () => {
    expect(RECORDINGS.length).toBeGreaterThanOrEqual(4);
    for (const r of RECORDINGS) expect(await consume(`${r.lines.join('\n')}\n`)).toBe('shown');
  });

  test(
    `${RUNS} seeded mutations are shown or refused with a clear error, never a crash`,
    async () => {
      const outcomes = { shown: 0, refused: 0 };
      process.stderr.write(`fuzz: ${RUNS} mutations, seed ${SEED}\n`);
      await fc.assert(
        fc.asyncProperty(plan, async (p) => {
          const recording = RECORDINGS[p.recording % RECORDINGS.length]!;
          outcomes[await consume(mutate(recording.lines, p.mutations))]++;
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: false },
      );
      process.stderr.write(`fuzz: ${outcomes.shown} shown, ${outcomes.refused} refused, 0 crashes\n`);
      // both ways out are exercised: a fuzzer that only ever breaks the JSON tests nothing
      expect(outcomes.shown).toBeGreaterThan(RUNS / 10);
      expect(outcomes.refused).toBeGreaterThan(RUNS / 10);
    },
    Math.max(120_000, RUNS * 20),
  );
});
