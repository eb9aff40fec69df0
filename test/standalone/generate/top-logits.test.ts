// Generation from the top logits only (what GPU backends with topK read back): the sampler's sampleTop on
// candidatesNeeded() candidates picks exactly what sample() picks on the whole row, and a generation on a
// backend with topK gives the same tokens as on one without, using topK only when the sampler allows it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Sampler, topIds, type SamplerOptions } from '../../../src/generate/sampler.js';
import { loadModel, refBackend, type Backend } from '../../../src/index.js';
import { Rng } from '../../../src/util/rng.js';

const DEFAULT_MODEL = fileURLToPath(new URL('../../../models/bitnet-b1.58-tinystories-1m.gguf', import.meta.url));

const CONFIGS: SamplerOptions[] = [
  { temperature: 0 },
  { topK: 1, temperature: 0.8 },
  { topK: 5, topP: 1, minP: 0, temperature: 1 },
  { topK: 16, topP: 0.9, minP: 0.05, temperature: 0.7 },
  { topK: 3, topP: 0.5, minP: 0.3, temperature: 2 },
];

test('sampleTop on candidatesNeeded candidates equals sample on the whole row', () => {
  const rng = new Rng(3);
  for (const opts of CONFIGS) {
    for (let trial = 0; trial < 40; trial++) {
      // few distinct values so ties happen
      const logits = Float32Array.from({ length: 300 }, () => Math.round(rng.next() * 40) / 4);
      const a = new Sampler({ ...opts, seed: trial });
      const b = new Sampler({ ...opts, seed: trial });
      const k = b.candidatesNeeded!;
      assert.ok(k >= 1 && k <= 16, JSON.stringify(opts));
      const ids = topIds(logits, k);
      for (let draw = 0; draw < 5; draw++) {
        assert.equal(b.sampleTop(ids, ids.map((i) => logits[i]!)), a.sample(logits, []), `${JSON.stringify(opts)} trial ${trial}`);
      }
    }
  }
});

test('candidatesNeeded is undefined when the whole row matters', () => {
  assert.equal(new Sampler({ topK: 0, temperature: 1 }).candidatesNeeded, undefined);
  assert.equal(new Sampler({ temperature: 0, repeatPenalty: 1.1 }).candidatesNeeded, undefined);
  assert.equal(new Sampler({ topK: 5, presencePenalty: 0.5 }).candidatesNeeded, undefined);
  assert.equal(new Sampler({ topK: 5, repeatPenalty: 1.1, repeatLastN: 0 }).candidatesNeeded, 5);
  assert.equal(new Sampler({ topK: 40 }).candidatesNeeded, 40);
});

/** The reference backend plus a topK that reads the row and sorts it (as a GPU backend would on the device). */
function withTopK(calls: { n: number }): Backend {
  return {
    ...refBackend,
    name: 'ref+topK',
    async topK(logits, rows, nVocab, k) {
      calls.n++;
      const host = await refBackend.read(logits);
      const ids = new Int32Array(rows * k);
      const values = new Float32Array(rows * k);
      for (let r = 0; r < rows; r++) {
        const row = host.subarray(r * nVocab, (r + 1) * nVocab);
        topIds(row, k).forEach((id, i) => ((ids[r * k + i] = id), (values[r * k + i] = row[id]!)));
      }
      return { ids, values };
    },
  };
}

test('generation with topK gives the same tokens, and uses it only when the sampler allows', async () => {
  const plain = await loadModel(DEFAULT_MODEL, { backend: 'ref' });
  const calls = { n: 0 };
  const topped = await loadModel(DEFAULT_MODEL, { backend: withTopK(calls) });
  const cases: Array<[SamplerOptions, boolean]> = [
    [{ temperature: 0 }, true],
    [{ topK: 8, temperature: 0.9, seed: 4 }, true],
    [{ topK: 40, temperature: 0.9, seed: 4 }, false],
    [{ temperature: 0, repeatPenalty: 1.3 }, false],
  ];
  for (const [opts, used] of cases) {
    calls.n = 0;
    const a = await plain.complete('Once upon a time', { ...opts, maxTokens: 12 });
    const b = await topped.complete('Once upon a time', { ...opts, maxTokens: 12 });
    assert.deepEqual(b.tokens, a.tokens, JSON.stringify(opts));
    assert.equal(calls.n, used ? b.tokens.length + (b.stats.finishReason === 'stop' ? 1 : 0) : 0, JSON.stringify(opts));
  }
  await plain.dispose();
  await topped.dispose();
});
