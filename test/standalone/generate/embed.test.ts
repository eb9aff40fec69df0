// Embeddings: the final hidden states after output_norm (no lm_head), pooled mean / last / cls / none and
// L2-normalised, from BitnetModel.embed and Scheduler.embed (in the scheduler's steps, beside generations).
// Checked against a plain computation from the hidden states the trace hook shows (result_norm) during
// model.evaluate, bit for bit between the WASM and reference backends, and the GGUF pooling_type key.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { gv, writeGgufFile } from '../../../src/formats/gguf-writer.js';
import { ARCH_KEY, archKey } from '../../../src/formats/names.js';
import type { Pooling } from '../../../src/model/pooling.js';
import { loadModel, type BitnetModel } from '../../../src/index.js';
import { ggufMetadata, ggufTensors, makeFixture, TINY, type GgufFixtureOptions } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';

const dir = tempDir('embed');
let models: Record<'wasm' | 'ref', BitnetModel>;
let path: string;
const fx = makeFixture(TINY);
const GGUF: GgufFixtureOptions = { weights: 'I2_S', embedding: 'F16' };
const TEXTS = ['Once upon a time, there was a little girl named Lily.', 'The cat sat on the mat.', 'Hi'];
const POOLINGS: Pooling[] = ['mean', 'last', 'cls', 'none'];

before(async () => {
  path = join(dir, 'tiny.gguf');
  await writeGgufFile(path, ggufMetadata(fx, GGUF), ggufTensors(fx, GGUF).tensors);
  models = { wasm: await loadModel(path, { batchSize: 8, threads: 2 }), ref: await loadModel(path, { batchSize: 8, backend: 'ref' }) };
});

after(async () => {
  await models.wasm.dispose();
  await models.ref.dispose();
});

/** Hidden states [T][nEmbd] after output_norm, as the trace hook shows them while evaluating every position. */
async function hiddenStates(model: BitnetModel, tokens: number[]): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  await model.evaluate(tokens, {
    trace: (name, _layer, data, n, cols) => {
      if (name === 'result_norm') for (let r = 0; r < n; r++) rows.push(data.slice(r * cols, (r + 1) * cols));
    },
  });
  assert.equal(rows.length, tokens.length);
  return rows;
}

/** The pooled vector(s) computed plainly from the rows. */
function plainPool(rows: Float32Array[], pooling: Pooling, normalize: boolean): number[][] {
  const d = rows[0]!.length;
  let out: number[][];
  if (pooling === 'none') out = rows.map((r) => Array.from(r));
  else if (pooling === 'cls') out = [Array.from(rows[0]!)];
  else if (pooling === 'last') out = [Array.from(rows.at(-1)!)];
  else out = [Array.from({ length: d }, (_, j) => rows.reduce((a, r) => a + r[j]!, 0) / rows.length)];
  if (!normalize) return out;
  return out.map((v) => {
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

function close(got: Float32Array, want: number[][], what: string): void {
  const flat = want.flat();
  assert.equal(got.length, flat.length, `${what}: length`);
  for (let i = 0; i < flat.length; i++) {
    if (!(Math.abs(got[i]! - flat[i]!) <= 1e-6 * Math.max(1, Math.abs(flat[i]!)))) assert.fail(`${what}: [${i}] ${got[i]} vs ${flat[i]}`);
  }
}

for (const kind of ['ref', 'wasm'] as const) {
  test(`${kind}: model.embed pools the final hidden states as computed plainly from the trace`, async () => {
    const model = models[kind];
    for (const text of TEXTS) {
      const tokens = model.tokenizePrompt(text);
      const rows = await hiddenStates(model, tokens);
      for (const pooling of POOLINGS) {
        for (const normalize of [true, false]) {
          const v = await model.embed(text, { pooling, normalize });
          close(v, plainPool(rows, pooling, normalize), `${text} ${pooling} normalize=${normalize}`);
          if (normalize && pooling !== 'none') assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-6);
        }
      }
      // token ids work as input too; the default pooling (no pooling_type in the file) is mean
      assert.deepEqual(await model.embed(tokens), await model.embed(text, { pooling: 'mean' }));
    }
  });
}

test('wasm embeddings equal the reference backend bit for bit', async () => {
  for (const text of TEXTS) {
    for (const pooling of POOLINGS) {
      assert.deepEqual(await models.wasm.embed(text, { pooling }), await models.ref.embed(text, { pooling }), `${text} ${pooling}`);
    }
  }
});

for (const kind of ['ref', 'wasm'] as const) {
  test(`${kind}: Scheduler.embed gives model.embed's vectors while generations run in the same steps`, async () => {
    const model = models[kind];
    const sched = model.createScheduler({ parallel: 2, maxQueue: 16 });
    try {
      const lone = await model.complete('Once upon a time', { seed: 4, maxTokens: 15, ignoreEos: true });
      const gen = sched.submit(model.tokenizePrompt('Once upon a time'), { seed: 4, maxTokens: 15, ignoreEos: true });
      const embeds = TEXTS.flatMap((t) => POOLINGS.map((pooling) => ({ t, pooling, v: sched.embed(model.tokenizePrompt(t), { pooling }) })));
      const tokens: number[] = [];
      for await (const c of gen) tokens.push(...c.tokens);
      assert.deepEqual(tokens, lone.tokens, 'the generation beside the embeddings is unchanged');
      for (const e of embeds) assert.deepEqual(await e.v, await model.embed(e.t, { pooling: e.pooling }), `${e.t} ${e.pooling}`);
      const raw = await sched.embed(model.tokenizePrompt(TEXTS[0]!), { pooling: 'mean', normalize: false });
      assert.deepEqual(raw, await model.embed(TEXTS[0]!, { pooling: 'mean', normalize: false }));
      const s = sched.stats();
      assert.equal(s.requestsFinished, 1 + embeds.length + 1);
      // alone: the generation's prompt chunks and 14 decode steps, and every embedding chunk of 8 tokens
      const chunks = (t: string): number => Math.ceil(model.tokenizePrompt(t).length / 8);
      const apart = chunks('Once upon a time') + 14 + embeds.reduce((a, e) => a + chunks(e.t), 0) + chunks(TEXTS[0]!);
      assert.ok(s.steps <= apart - 10, `embeddings shared steps with the generation (${s.steps} steps, ${apart} apart)`);
    } finally {
      await sched.dispose();
    }
  });
}

test('Scheduler.embed: aborts, bad input and bad pooling are refused', async () => {
  const model = models.wasm;
  const sched = model.createScheduler({ parallel: 1, contextSize: 16 });
  try {
    const err = (code: string, name?: string) => (e: unknown) => e instanceof BitnetError && e.code === code && (name === undefined || e.subject === name);
    await assert.rejects(sched.embed(model.tokenizePrompt('Hi'), { pooling: 'mean', signal: AbortSignal.abort() }), err('ABORTED'));
    await assert.rejects(sched.embed([], { pooling: 'mean' }), err('INVALID_ARGUMENT', 'prompt'));
    await assert.rejects(sched.embed(Array(17).fill(5), { pooling: 'mean' }), err('CONTEXT_OVERFLOW'));
    await assert.rejects(sched.embed([1, 2], { pooling: 'rank' as Pooling }), err('INVALID_ARGUMENT', 'pooling'));
    await assert.rejects(sched.embed([1, 1e9], { pooling: 'mean' }), err('INVALID_ARGUMENT', 'tokens'));
    await assert.rejects(model.embed('Hi', { pooling: 'max' as Pooling }), err('INVALID_ARGUMENT', 'pooling'));
    // still healthy
    assert.equal((await sched.embed(model.tokenizePrompt('Hi'), { pooling: 'last' })).length, model.hparams.nEmbd);
    assert.equal(sched.stats().requestsCancelled, 1);
  } finally {
    await sched.dispose();
  }
});

test('poolingType comes from GGUF <arch>.pooling_type and is the default pooling', async () => {
  assert.equal(models.ref.poolingType, undefined);
  for (const [value, want] of [[3, 'last'], [2, 'cls'], [0, 'none'], [4, undefined]] as const) {
    const p = join(dir, `pool-${value}.gguf`);
    await writeGgufFile(p, [...ggufMetadata(fx, GGUF), [archKey(fx.config.arch, ARCH_KEY.poolingType), gv.u32(value)]], ggufTensors(fx, GGUF).tensors);
    const m = await loadModel(p, { backend: 'ref' });
    try {
      assert.equal(m.poolingType, want);
      if (want) assert.deepEqual(await m.embed('The cat'), await models.ref.embed('The cat', { pooling: want }));
    } finally {
      await m.dispose();
    }
  }
});
