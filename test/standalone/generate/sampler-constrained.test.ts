// Sampler.sampleConstrained (the grammar's fast path: no masked row is built) against its plain twin,
// sample() on the row with every refused token set to -Infinity: the same token for the same seed, over
// random rows, random allowed sets (dense, sparse, one token), every sampler setting, penalties and ties.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Sampler, type SamplerOptions } from '../../../src/generate/sampler.js';
import { Rng } from '../../../src/util/rng.js';

const SETTINGS: SamplerOptions[] = [
  { temperature: 0 },
  {},
  { topK: 0, topP: 1, minP: 0, temperature: 1 },
  { topK: 5, topP: 0.9, minP: 0.1, temperature: 0.7 },
  { topK: 1 },
  { topK: 200, topP: 1, minP: 0 },
  { temperature: 1.3, repeatPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.2, repeatLastN: 8 },
];

test('sampleConstrained picks exactly what sample() picks on the masked row', () => {
  const rng = new Rng(42);
  let cases = 0;
  for (let round = 0; round < 300; round++) {
    const n = 50 + rng.int(400);
    const row = new Float32Array(n);
    // coarse values make ties; a few very large ones sit on refused tokens, so the fast path must skip them
    for (let i = 0; i < n; i++) row[i] = rng.int(3) === 0 ? rng.int(8) : (rng.next() - 0.5) * 8;
    const density = [0.002, 0.05, 0.3, 0.9][round % 4]!;
    const allowed = new Set<number>();
    for (let i = 0; i < n; i++) if (rng.next() < density) allowed.add(i);
    if (allowed.size === 0) allowed.add(rng.int(n));
    for (let j = 0; j < 3; j++) row[rng.int(n)] = 20 + j;
    const sorted = Int32Array.from([...allowed].sort((a, b) => a - b));
    const history = Array.from({ length: rng.int(12) }, () => rng.int(n));
    for (const s of SETTINGS) {
      for (const cheap of [true, false]) {
        const seed = rng.int(1 << 30);
        const constraint = { allows: (id: number) => allowed.has(id), allowedTokens: (onlyIfCheap?: boolean) => (onlyIfCheap && !cheap ? undefined : sorted) };
        const masked = row.map((v, i) => (allowed.has(i) ? v : -Infinity));
        const want = new Sampler({ ...s, seed }).sample(masked, history);
        const got = new Sampler({ ...s, seed }).sampleConstrained(row, history, constraint);
        assert.equal(got, want, `round ${round}, ${JSON.stringify(s)}, allowed list known: ${cheap}`);
        assert.ok(allowed.has(got));
        cases++;
      }
    }
  }
  assert.equal(cases, 300 * SETTINGS.length * 2);
});
