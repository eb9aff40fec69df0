// Quantized KV caches end to end: with -ctk / -ctv types (q8_0, q4_0, mixed pairs) the WASM backend's logits
// equal the reference backend's bit for bit in batch and generation numerics; the types reach every sequence
// (model default, createSequence, evaluate, the scheduler's slots); bad types fail at load naming the flag.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import type { GenerationChunk } from '../../../src/generate/generate.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import type { KvTypes } from '../../../src/kernels/backend.js';
import { makeFixture, TINY, writeAllFixtures } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { generationMode } from './helpers.js';

const dir = tempDir('kvq');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150, 250, 77, 12, 13];

function sameRows(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((row, t) => {
    for (let i = 0; i < row.length; i++) if (!Object.is(row[i], b[t]![i])) assert.fail(`${what}: position ${t} logit ${i}: ${row[i]} vs ${b[t]![i]}`);
  });
}

async function drain(h: AsyncIterable<GenerationChunk>): Promise<number[]> {
  const tokens: number[] = [];
  for await (const c of h) tokens.push(...c.tokens);
  return tokens;
}

const fx = makeFixture({ ...TINY, seed: 21 }); // head size 64
const set = await writeAllFixtures(fx, join(dir, 'tiny'));
const path = set.paths['gguf-i2_s-f16']!;
const tokens = [fx.vocab.bos!, ...TOKENS.map((t) => t % fx.ref.nVocab)];

test('q8_0 / q4_0 and mixed caches: WASM logits equal the reference (batch and generation numerics)', async () => {
  const pairs: KvTypes[] = [{ k: 'q8_0', v: 'q8_0' }, { k: 'q4_0', v: 'q4_0' }, { k: 'q8_0', v: 'f16' }, { k: 'q4_0', v: 'f32' }, { k: 'f16', v: 'q8_0' }];
  for (const kvType of pairs) {
    const ref = await loadModel(path, { backend: 'ref', kvType });
    const wasm = await loadModel(path, { backend: 'wasm', threads: 2, kvType });
    const what = `${kvType.k}/${kvType.v}`;
    assert.deepEqual(wasm.kvTypes, kvType);
    sameRows(await wasm.evaluate(tokens), await ref.evaluate(tokens), `${what} batch`);
    sameRows(await generationMode(wasm, tokens), await generationMode(ref, tokens), `${what} generation`);
    await wasm.dispose();
    await ref.dispose();
  }
});

test('the cache types reach every sequence: model default, createSequence, evaluate, scheduler slots', async () => {
  const m: BitnetModel = await loadModel(path, { backend: 'wasm', threads: 1, kvType: 'q4_0' });
  const f16 = await loadModel(path, { backend: 'wasm', threads: 1 });
  try {
    assert.deepEqual(m.kvTypes, { k: 'q4_0', v: 'q4_0' });
    assert.deepEqual(f16.kvTypes, { k: 'f16', v: 'f16' });
    const seq = m.createSequence();
    assert.deepEqual(seq.kv.types, { k: 'q4_0', v: 'q4_0' });
    seq.dispose();
    const other = m.createSequence({ kvType: { k: 'q8_0', v: 'f16' } });
    assert.deepEqual(other.kv.types, { k: 'q8_0', v: 'f16' });
    other.dispose();
    // the q4_0 cache changes the logits; evaluate with f16 types on the same model gives the f16 model's
    const q4 = await m.evaluate(tokens);
    const base = await f16.evaluate(tokens);
    assert.ok(q4.some((row, t) => row.some((x, i) => x !== base[t]![i])), 'q4_0 logits differ from f16');
    sameRows(await m.evaluate(tokens, { kvType: 'f16' }), base, 'evaluate with kvType f16');
    // scheduler slots: the model's types by default, or the scheduler's own
    const prompt = m.tokenizePrompt('Once upon a time');
    const want = (await m.complete('Once upon a time', { temperature: 0, maxTokens: 8, ignoreEos: true })).tokens;
    const sched = m.createScheduler({ parallel: 2 });
    try {
      assert.deepEqual(await drain(sched.submit(prompt, { temperature: 0, maxTokens: 8, ignoreEos: true })), want);
    } finally {
      await sched.dispose();
    }
    const sched16 = m.createScheduler({ parallel: 1, kvType: 'f16' });
    try {
      const wantF16 = (await f16.complete('Once upon a time', { temperature: 0, maxTokens: 8, ignoreEos: true })).tokens;
      assert.deepEqual(await drain(sched16.submit(prompt, { temperature: 0, maxTokens: 8, ignoreEos: true })), wantF16);
    } finally {
      await sched16.dispose();
    }
  } finally {
    await m.dispose();
    await f16.dispose();
  }
});

test('at load, a quantized cache on a head size that is not a multiple of 32 is INVALID_ARGUMENT naming the flag', async () => {
  const odd = makeFixture({ ...TINY, seed: 3, nHead: 16, nHeadKv: 4 }); // head size 16
  const p = (await writeAllFixtures(odd, join(dir, 'hd16'))).paths['gguf-i2_s-f16']!;
  for (const [kvType, flag] of [[{ k: 'q8_0', v: 'f16' }, 'cache-type-k'], [{ k: 'f16', v: 'q4_0' }, 'cache-type-v']] as const) {
    for (const backend of ['ref', 'wasm'] as const) {
      await assert.rejects(loadModel(p, { backend, kvType }), (e: unknown) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && e.subject === flag && /multiple of 32/.test(e.message));
    }
  }
  // f16 / f32 and mixed float pairs take any head size
  const m = await loadModel(p, { backend: 'wasm', kvType: { k: 'f32', v: 'f16' } });
  const r = await loadModel(p, { backend: 'ref', kvType: { k: 'f32', v: 'f16' } });
  sameRows(await m.evaluate(tokens.slice(0, 6)), await r.evaluate(tokens.slice(0, 6)), 'f32/f16 on head size 16');
  await m.dispose();
  await r.dispose();
});
