// The engine's logits against the independent float64 reference forward (test/reference/forward64.ts), on
// fixtures of all three architectures. Tolerances, relative to the RMS of the reference logits:
// - tight (1e-4) on seeds whose activations meet no int8 rounding near-tie: there the only differences are
//   float32 vs float64 rounding (measured ~1e-6);
// - loose (max 0.25, RMS 0.05) on any seed, and for the default int8 lm_head: float32 and float64 may round an activation that sits within
//   ~1e-7 of a .5 boundary to different int8 values, which moves later logits by up to ~10% of their RMS
//   (see test/reference/README.md); a real bug (wrong RoPE pairing, activation, sub-norm, GQA map) moves them
//   by 1.5-5x the RMS.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture, type FixtureArch } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { referenceLogits } from '../../reference/forward64.js';

const dir = tempDir('fwd');
const TOKENS = [10, 200, 300, 45, 67, 3, 99, 150, 250, 77, 12];

function compare(got: Float32Array[], want: Float64Array[], from = 0): { max: number; rms: number } {
  let maxd = 0;
  let sq = 0;
  let ref = 0;
  let n = 0;
  for (let t = from; t < want.length; t++) {
    for (let i = 0; i < want[t]!.length; i++) {
      const d = got[t - from]![i]! - want[t]![i]!;
      maxd = Math.max(maxd, Math.abs(d));
      sq += d * d;
      ref += want[t]![i]! ** 2;
      n++;
    }
  }
  const scale = Math.sqrt(ref / n);
  return { max: maxd / scale, rms: Math.sqrt(sq / n) / scale };
}

async function setup(arch: FixtureArch, seed: number) {
  const fx = makeFixture({ ...TINY, arch, seed });
  const path = join(dir, `${arch}-${seed}.gguf`);
  await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16' });
  const model = await loadModel(path, { lmHead: 'exact' });
  return { fx, model, tokens: [fx.vocab.bos!, ...TOKENS] };
}

const TIGHT: Array<[FixtureArch, number]> = [
  ['bitnet-b1.58', 2],
  ['bitnet', 8],
  ['llama', 8],
];

for (const [arch, seed] of TIGHT) {
  test(`${arch} seed ${seed}: batch logits equal the float64 reference (tight)`, async () => {
    const { fx, model, tokens } = await setup(arch, seed);
    const diff = compare(await model.evaluate(tokens), referenceLogits(fx.ref, tokens, { kvF16: true }));
    assert.ok(diff.max < 1e-4, `max |diff| ${diff.max} of the logit RMS`);
  });

  test(`${arch} seed ${seed}: generation-mode logits (prompt batch, then single tokens) equal the reference`, async () => {
    const { fx, model, tokens } = await setup(arch, seed);
    const n = 5;
    const seq = model.createSequence();
    const rows = [(await seq.prefill(tokens.slice(0, n))).logits];
    for (const t of tokens.slice(n)) rows.push(await seq.step(t));
    // positions >= n ran as single-token batches: P and the lm_head input rounded to f16 (ggml)
    const ref = referenceLogits(fx.ref, tokens, { kvF16: true, singleTokenFrom: n });
    const steps = compare(rows.slice(1), ref, n);
    assert.ok(steps.max < 1e-4, `single-token steps: max |diff| ${steps.max}`);
    // the prompt's last position has one output row, so only its lm_head input is rounded to f16
    const last = compare(rows.slice(0, 1), ref.slice(0, n), n - 1);
    assert.ok(last.max < 2e-2 && last.max > 0, `prompt's last row: max |diff| ${last.max}`);
  });
}

test('every architecture is within the loose tolerance on several seeds', async () => {
  for (const arch of ['bitnet-b1.58', 'bitnet', 'llama'] as FixtureArch[]) {
    for (const seed of [1, 3, 4, 5]) {
      const { fx, model, tokens } = await setup(arch, seed);
      const diff = compare(await model.evaluate(tokens), referenceLogits(fx.ref, tokens, { kvF16: true }));
      assert.ok(diff.max < 0.25 && diff.rms < 0.05, `${arch} seed ${seed}: max ${diff.max}, rms ${diff.rms}`);
    }
  }
});

test('an f32 KV cache matches the reference without f16 rounding', async () => {
  const fx = makeFixture({ ...TINY, seed: 2 });
  const path = join(dir, 'kvf32.gguf');
  await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16' });
  const model = await loadModel(path, { kvType: 'f32', lmHead: 'exact' });
  const tokens = [fx.vocab.bos!, ...TOKENS];
  const exact = compare(await model.evaluate(tokens), referenceLogits(fx.ref, tokens, { kvF16: false }));
  assert.ok(exact.max < 1e-4, `max ${exact.max}`);
  // and the f16 emulation is visible: f32 cache vs the kvF16 reference differs
  const vsF16 = compare(await model.evaluate(tokens), referenceLogits(fx.ref, tokens, { kvF16: true }));
  assert.ok(vsF16.max > exact.max);
});

test('the reference catches the classic mistakes (so the tolerance means something)', async () => {
  const { fx, model, tokens } = await setup('bitnet-b1.58', 2);
  const got = await model.evaluate(tokens);
  const silu = compare(got, referenceLogits({ ...fx.ref, act: 'silu' }, tokens, { kvF16: true }));
  assert.ok(silu.max > 0.5, `SiLU instead of relu^2 should be far off (${silu.max})`);
  const noSubNorm = compare(got, referenceLogits({ ...fx.ref, layers: fx.ref.layers.map((l) => ({ ...l, attnSubNorm: null })) }, tokens, { kvF16: true }));
  assert.ok(noSubNorm.max > 0.5, `a missing sub-norm should be far off (${noSubNorm.max})`);
});

test('the default int8 lm_head stays within the loose tolerance of the exact one and keeps the argmax', async () => {
  const { fx, model, tokens } = await setup('bitnet-b1.58', 2);
  const int8 = await loadModel(join(dir, 'bitnet-b1.58-2.gguf'));
  const ref = referenceLogits(fx.ref, tokens, { kvF16: true });
  const diff = compare(await int8.evaluate(tokens), ref);
  assert.ok(diff.max < 0.25 && diff.rms < 0.05, `max ${diff.max}, rms ${diff.rms}`);
  const exact = await model.evaluate(tokens);
  const approx = await int8.evaluate(tokens);
  const argmax = (r: Float32Array) => r.indexOf(Math.max(...r));
  let maxDev = 0;
  exact.forEach((row, t) => row.forEach((v, i) => (maxDev = Math.max(maxDev, Math.abs(v - approx[t]![i]!)))));
  let checked = 0;
  exact.forEach((row, t) => {
    const sorted = Array.from(row).sort((a, b) => b - a);
    if (sorted[0]! - sorted[1]! <= 2 * maxDev) return; // a near-tie the requantization may flip
    checked++;
    assert.equal(argmax(approx[t]!), argmax(row), `position ${t}`);
  });
  assert.ok(checked > 0);
});
