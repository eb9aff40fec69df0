// Prefix reuse is exact: whatever prefix a cache already holds, evaluating the rest of a prompt gives the
// logits a fresh sequence gives, bit for bit, also when the fresh evaluation ends with a one-token batch
// (length % batchSize == 1: ggml's single-row attention path, which a reused run must then take for the
// same last token, and for no other). In Sequence.prefill and in the scheduler's slots, ref and WASM. (The
// cached positions themselves must have been evaluated in batches of several tokens: a decode step's K/V
// differ in the last bits from a prompt batch's, so a prefix holding generated tokens is close, not exact.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prefillChunk } from '../../../src/generate/sequence.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('prefix-reuse');
let models: Record<'wasm' | 'ref', BitnetModel>;
const BS = 8;

before(async () => {
  const path = join(dir, 'tiny.gguf');
  await writeGgufFixture(makeFixture(TINY), path, { weights: 'I2_S', embedding: 'F16' });
  models = { wasm: await loadModel(path, { batchSize: BS, threads: 2 }), ref: await loadModel(path, { batchSize: BS, backend: 'ref' }) };
});

after(async () => {
  await models.wasm.dispose();
  await models.ref.dispose();
});

const prompt = (n: number): number[] => Array.from({ length: n }, (_, i) => 20 + ((i * 37) % 300));

function same(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: logit ${i} is ${a[i]}, fresh ${b[i]}`);
}

test('prefillChunk: batches of batchSize, the last token alone exactly when a fresh run has it alone', () => {
  const plan = (from: number, n: number, bs: number): number[] => {
    const out: number[] = [];
    for (let s = from; s < n; s += out.at(-1)!) out.push(prefillChunk(s, n, bs));
    return out;
  };
  assert.deepEqual(plan(0, 17, 8), [8, 8, 1]);
  assert.deepEqual(plan(0, 16, 8), [8, 8]);
  assert.deepEqual(plan(3, 17, 8), [8, 5, 1]);
  assert.deepEqual(plan(0, 3, 1), [1, 1, 1]);
});

for (const kind of ['ref', 'wasm'] as const) {
  test(`${kind}: every reused prefix length gives a fresh sequence's logits`, async () => {
    const model = models[kind];
    for (const n of [9, 17, 10, 16]) {
      const p = prompt(n);
      const fresh = model.createSequence();
      const want = (await fresh.prefill(p)).logits;
      fresh.dispose();
      for (let r = 1; r < n; r++) {
        // the cache holds the prefix (in multi-token batches: positions a decode step or a one-token batch
        // evaluated hold other bits, so no reuse of them can be exact) and more
        const seq = model.createSequence();
        await seq.prefill([...p.slice(0, r), 7, 7]);
        const got = await seq.prefill(p);
        assert.ok(got.reused >= r - 1 && got.reused <= r, `reused ${got.reused} of ${r}`);
        same(got.logits, want, `${n} tokens, ${r} cached`);
        seq.dispose();
      }
    }
  });

  test(`${kind}: a scheduler slot that reuses a prefix gives a fresh run's logprobs`, async () => {
    const model = models[kind];
    const sched = model.createScheduler({ parallel: 1 });
    try {
      for (const n of [9, 17]) {
        const p = prompt(n);
        const opts = { temperature: 0, maxTokens: 3, logprobs: 3, ignoreEos: true };
        const seq = model.createSequence();
        const want: unknown[] = [];
        for await (const c of model.generateOn(seq, { tokens: p }, opts)) want.push(...(c.logprobs ?? []));
        seq.dispose();
        for (const r of [1, 2, n - 2, n - 1]) {
          for await (const _ of sched.submit(p.slice(0, r), { maxTokens: 1 })) void _;
          const got: unknown[] = [];
          let cached = -1;
          for await (const c of sched.submit(p, opts)) {
            got.push(...(c.logprobs ?? []));
            if (c.stats) cached = c.stats.cachedTokens;
          }
          assert.ok(cached >= r - 1, `${n} tokens: cached ${cached} of ${r}`);
          assert.deepEqual(got, want, `${n} tokens, ${r} cached`);
        }
      }
    } finally {
      await sched.dispose();
    }
  });
}
