// The Qwen3-based BitNet embedding models (microsoft/BitNet docs/bitnet-embeddings-qwen3-gguf-conversion.md)
// on a toy fixture in their GGUF layout: per-projection input norms (F16), per-head Q/K norms, a head size of
// its own, NeoX RoPE, SiLU, the Qwen2 pre-tokenizer and add_eos_token. Logits against the float64 reference
// forward (test/reference/forward64.ts) and across backends; load-time checks name what is wrong.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { BitnetError, convertModel, loadModel } from '../../../src/index.js';
import { TENSOR } from '../../../src/formats/names.js';
import { pretokenize } from '../../../src/tokenizer/index.js';
import { ggufMetadata, ggufTensors, makeFixture, QWEN3_EMBED, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { referenceHidden, referenceLogits } from '../../reference/forward64.js';
import { writeGgufFile } from '../../../src/formats/gguf-writer.js';

const dir = tempDir('qwen3');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150, 250, 77, 12];

function relDiff(got: Float32Array[], want: Float64Array[]): number {
  let maxd = 0;
  let ref = 0;
  let n = 0;
  for (let t = 0; t < want.length; t++) {
    for (let i = 0; i < want[t]!.length; i++) {
      maxd = Math.max(maxd, Math.abs(got[t]![i]! - want[t]![i]!));
      ref += want[t]![i]! ** 2;
      n++;
    }
  }
  return maxd / Math.sqrt(ref / n);
}

async function fixtureFile(seed: number): Promise<{ fx: ReturnType<typeof makeFixture>; path: string }> {
  const fx = makeFixture({ ...QWEN3_EMBED, seed });
  const path = join(dir, `qwen3-${seed}.gguf`);
  await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16' });
  return { fx, path };
}

test('qwen3 BitNet embedding model: hyperparameters, norms and tokenizer as its converter writes them', async () => {
  const { path } = await fixtureFile(QWEN3_EMBED.seed);
  const model = await loadModel(path, { backend: 'ref' });
  try {
    const hp = model.hparams;
    assert.equal(hp.arch, 'qwen3');
    assert.equal(hp.headDim, 128);
    assert.equal(hp.nHead * hp.headDim, 512); // != nEmbd 256
    assert.ok(hp.qkNorm && hp.inputNorms);
    assert.equal(hp.ropeStyle, 'neox');
    assert.equal(hp.act, 'silu');
    // Qwen2 splits digits one by one (Llama-3 keeps up to three together)
    assert.deepEqual(pretokenize('12345', 'qwen2'), ['1', '2', '3', '4', '5']);
    assert.deepEqual(pretokenize('12345', 'llama3'), ['123', '45']);
    assert.equal(model.tokenizer.vocab.preTokenizer, 'qwen2');
    // no BOS, EOS appended (for last-token pooling)
    const ids = model.tokenize('Once upon a time 2024');
    assert.notEqual(ids[0], model.tokenizer.bos);
    assert.equal(ids.at(-1), model.tokenizer.eos);
    assert.equal(model.tokenizer.tokenText(model.tokenizer.eos!), '<|endoftext|>');
    assert.deepEqual(model.tokenize('Once', { addBos: false }).slice(-1), [model.tokenizer.eos]);
  } finally {
    await model.dispose();
  }
});

test('qwen3: logits equal the float64 reference on seeds without int8 rounding near-ties; every backend agrees bit for bit', async () => {
  let tight = 0;
  for (const seed of [3, 4, 5]) {
    const { fx, path } = await fixtureFile(seed);
    const ref = await loadModel(path, { backend: 'ref', lmHead: 'exact' });
    const wasm1 = await loadModel(path, { backend: 'wasm', threads: 1, lmHead: 'exact' });
    const wasm2 = await loadModel(path, { backend: 'wasm', threads: 2, lmHead: 'exact' });
    try {
      const got = await ref.evaluate(TOKENS);
      const d = relDiff(got, referenceLogits(fx.ref, TOKENS, { kvF16: true }));
      // a real bug (norm in the wrong place, Q/K norm missing, RoPE pairing, head size) moves logits by O(1) of their RMS
      assert.ok(d < 0.25, `seed ${seed}: max |diff| ${d} of the logit RMS`);
      if (d < 1e-4) tight++;
      for (const other of [wasm1, wasm2]) {
        const o = await other.evaluate(TOKENS);
        o.forEach((row, t) => assert.deepEqual(row, got[t], `seed ${seed}: ${other.backend.name} row ${t}`));
      }
    } finally {
      for (const m of [ref, wasm1, wasm2]) await m.dispose();
    }
  }
  assert.ok(tight >= 1, 'at least one seed matches the reference to float32 rounding');
});

test('qwen3: embeddings pool the last token (the file says so; EOS appended) and equal the normalised float64 reference', async () => {
  let tight = 0;
  for (const seed of [3, 4, 5]) {
    const { fx, path } = await fixtureFile(seed);
    const model = await loadModel(path, { backend: 'wasm', threads: 2 });
    try {
      assert.equal(model.poolingType, 'last');
      const text = 'Once upon a time, Lily saw 12 apples.';
      const tokens = model.tokenize(text);
      assert.equal(tokens.at(-1), model.tokenizer.eos);
      const got = await model.embed(text);
      assert.equal(got.length, fx.ref.nEmbd);
      const last = referenceHidden(fx.ref, tokens, { kvF16: true }).at(-1)!;
      const norm = Math.hypot(...last);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - last[i]! / norm));
      assert.ok(worst < 0.05, `seed ${seed}: max |diff| ${worst}`);
      if (worst < 1e-5) tight++;
      // the same as asking for 'last' explicitly; 'mean' is another vector
      assert.deepEqual(await model.embed(tokens, { pooling: 'last' }), got);
      assert.notDeepEqual(await model.embed(tokens, { pooling: 'mean' }), got);
    } finally {
      await model.dispose();
    }
  }
  assert.ok(tight >= 1, 'at least one seed matches the reference to float32 rounding');
});

test('qwen3: a file with only some per-projection input norms is refused, naming the missing one', async () => {
  const fx = makeFixture(QWEN3_EMBED);
  const { tensors } = ggufTensors(fx, { weights: 'I2_S', embedding: 'F16' });
  const path = join(dir, 'partial.gguf');
  const missing = TENSOR.normIn(0, 'ffn_up');
  await writeGgufFile(path, ggufMetadata(fx, { weights: 'I2_S', embedding: 'F16' }), tensors.filter((t) => !t.name.endsWith('ffn_up_norm_in.weight')));
  await assert.rejects(loadModel(path, { backend: 'ref' }), (e: unknown) => e instanceof BitnetError && e.code === 'MISSING_TENSOR' && e.message.includes(missing));
});

test('qwen3: convert refuses by name (its norms have no place in the bitnet / llama layouts)', async () => {
  const { path } = await fixtureFile(QWEN3_EMBED.seed);
  await assert.rejects(convertModel(path, join(dir, 'out.gguf'), { type: 'tq2_0' }), (e: unknown) => e instanceof BitnetError && e.code === 'UNSUPPORTED_ARCHITECTURE' && /qwen3/.test(e.message));
});
