// One seed, every format: the same ternary weights must give bit-identical logits whether they come from
// GGUF I2_S / TQ2_0 / TQ1_0 / F32, HF packed safetensors (either weight_scale convention) or HF bf16 master
// weights (sharded), for each architecture. The Q8_0 / Q6_K embedding variants store a rounded embedding;
// they are checked against the reference run on the embedding they really store.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../../src/index.js';
import { makeFixture, ODD, TINY, writeAllFixtures, type FixtureArch } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { referenceLogits } from '../../reference/forward64.js';

const dir = tempDir('formats');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150];

function identical(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((row, t) => row.every((v, i) => v === b[t]![i]));
}

for (const [arch, seed] of [['bitnet-b1.58', 2], ['bitnet', 8], ['llama', 8]] as Array<[FixtureArch, number]>) {
  test(`${arch}: every format gives identical logits`, async () => {
    const fx = makeFixture({ ...TINY, arch, seed });
    const set = await writeAllFixtures(fx, join(dir, arch));
    const tokens = [fx.vocab.bos!, ...TOKENS];
    const base = await (await loadModel(set.paths['gguf-i2_s-f16']!)).evaluate(tokens);
    const ternaryVariants = Object.keys(set.paths).filter((n) => !/q8_0|q6_k/.test(n));
    assert.ok(ternaryVariants.length >= (arch === 'bitnet' ? 6 : 7), ternaryVariants.join(', '));
    for (const name of ternaryVariants) {
      const m = await loadModel(set.paths[name]!);
      assert.deepEqual(m.warnings, [], `${name}: ${m.warnings.join('; ')}`);
      assert.ok(identical(await m.evaluate(tokens), base), `${name} differs from gguf-i2_s-f16`);
    }
    for (const name of ['gguf-i2_s-q8_0', 'gguf-i2_s-q6_k']) {
      const stored = set.embeddings[name]!;
      const ref = referenceLogits({ ...fx.ref, embedding: stored.embedding, output: stored.output }, tokens, { kvF16: true });
      const got = await (await loadModel(set.paths[name]!)).evaluate(tokens);
      // a different embedding meets different int8 near-ties, and the lm_head quantizes its input to
      // Q8_0 / Q8_K as ggml does (exact semantics are checked at kernel level): the loose tolerance
      let maxd = 0;
      let sq = 0;
      let sd = 0;
      for (let t = 0; t < tokens.length; t++) for (let i = 0; i < ref[t]!.length; i++) {
        const d = got[t]![i]! - ref[t]![i]!;
        maxd = Math.max(maxd, Math.abs(d));
        sd += d * d;
        sq += ref[t]![i]! ** 2;
      }
      const rel = maxd / Math.sqrt(sq / (tokens.length * ref[0]!.length));
      assert.ok(rel < 0.25 && Math.sqrt(sd / sq) < 0.05, `${name}: max |diff| ${rel} of the logit RMS`);
    }
  });
}

test('row lengths that are multiples of 128 but not 256, untied output (I2_S, F32 and HF formats)', async () => {
  const fx = makeFixture(ODD);
  const set = await writeAllFixtures(fx, join(dir, 'odd'));
  assert.equal(set.paths['gguf-tq2_0-f16'], undefined, 'TQ formats need rows of 256');
  const tokens = [fx.vocab.bos!, ...TOKENS.map((t) => t % fx.ref.nVocab)];
  const base = await (await loadModel(set.paths['gguf-i2_s-f16']!)).evaluate(tokens);
  for (const name of ['gguf-f32-bf16', 'hf-bf16', 'hf-packed', 'hf-packed-bitlinear']) {
    const m = await loadModel(set.paths[name]!);
    assert.equal(m.tensors.some((t) => t.name === 'output.weight'), true);
    assert.ok(identical(await m.evaluate(tokens), base), name);
  }
  const ref = referenceLogits(fx.ref, tokens, { kvF16: true });
  let maxd = 0;
  let sq = 0;
  for (let t = 0; t < tokens.length; t++) for (let i = 0; i < ref[t]!.length; i++) {
    maxd = Math.max(maxd, Math.abs(base[t]![i]! - ref[t]![i]!));
    sq += ref[t]![i]! ** 2;
  }
  assert.ok(maxd / Math.sqrt(sq / (tokens.length * ref[0]!.length)) < 0.25);
});
