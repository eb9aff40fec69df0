// RoPE scaling end to end: a fixture with YaRN metadata (rope.scaling.*) loads with llama.cpp's resolved
// parameters, its logits equal the float64 reference with the same scaling, and it generates past its training
// context, on WebGPU as on the CPU; LoadOptions.rope overrides the file; bad metadata and bad options are typed errors naming the key or
// option; a context beyond what RoPE covers warns once per process.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { gv } from '../../../src/formats/gguf-writer.js';
import type { GgufTypedValue } from '../../../src/formats/gguf.js';
import { ARCH_KEY, archKey } from '../../../src/formats/names.js';
import { BitnetError, loadModel, type LoadOptions } from '../../../src/index.js';
import { makeFixture, TINY, writeGgufFixture } from '../../fixtures/generate.js';
import { tempDir } from '../../fixtures/temp.js';
import { referenceLogits } from '../../reference/forward64.js';
import { testGpu } from '../kernels/webgpu-gpu.js';

const dir = tempDir('ropescale');
const ARCH = 'bitnet-b1.58';
const k = (key: (typeof ARCH_KEY)[keyof typeof ARCH_KEY]) => archKey(ARCH, key);
// trained on 64 positions; YaRN x4 over an original context of 32 covers 128
const fx = makeFixture({ ...TINY, seed: 2, nCtx: 64 });
const YARN_META: Array<[string, GgufTypedValue]> = [
  [k(ARCH_KEY.ropeScalingType), gv.str('yarn')],
  [k(ARCH_KEY.ropeScalingFactor), gv.f32(4)],
  [k(ARCH_KEY.ropeScalingOrigCtx), gv.u32(32)],
];
const TOKENS = [fx.vocab.bos!, 10, 200, 300, 45, 67, 3, 99, 150, 250, 77, 12, 31, 180, 222, 5, 64, 128];
let n = 0;

async function fixture(meta: Array<[string, GgufTypedValue]>): Promise<string> {
  const path = join(dir, `f${n++}.gguf`);
  await writeGgufFixture(fx, path, { weights: 'I2_S', embedding: 'F16', extraMetadata: meta });
  return path;
}

/** max |diff| relative to the RMS of the reference logits */
function relMax(got: Float32Array[], want: Float64Array[]): number {
  let maxd = 0;
  let ref = 0;
  let count = 0;
  want.forEach((row, t) =>
    row.forEach((w, i) => {
      maxd = Math.max(maxd, Math.abs(got[t]![i]! - w));
      ref += w * w;
      count++;
    }),
  );
  return maxd / Math.sqrt(ref / count);
}

test('a GGUF with rope.scaling.* keys loads with llama.cpp\'s YaRN parameters, and a context beyond them warns once per process', async () => {
  const path = await fixture(YARN_META);
  const seen: string[] = [];
  const opts: LoadOptions = { onWarning: (m) => seen.push(m) };
  const m = await loadModel(path, { ...opts, contextSize: 128 });
  assert.deepEqual(m.hparams.ropeScaling, { type: 'yarn', freqScale: 0.25, extFactor: 1, attnFactor: 1, betaFast: 32, betaSlow: 1, origCtx: 32 });
  assert.deepEqual(m.warnings, [], 'a context within the scaled range does not warn');
  const over = await loadModel(path, { ...opts, contextSize: 256 });
  const again = await loadModel(path, { ...opts, contextSize: 512 });
  assert.equal(seen.length, 1, seen.join('\n'));
  assert.match(seen[0]!, /context size 256 is more than the model's training context 64 \(RoPE is scaled to 128\): text past position 128 degrades; --rope-scaling yarn --rope-scale 8/);
  assert.equal(over.warnings.length, 1);
  assert.match(again.warnings[0]!, /context size 512/);
  for (const x of [m, over, again]) await x.dispose();
});

test('YaRN logits equal the float64 reference with the same scaling (and differ from unscaled RoPE)', async () => {
  const path = await fixture(YARN_META);
  const m = await loadModel(path, { lmHead: 'exact', contextSize: 128 });
  const got = await m.evaluate(TOKENS);
  const s = m.hparams.ropeScaling;
  const want = referenceLogits(fx.ref, TOKENS, { kvF16: true, ropeScaling: s });
  const diff = relMax(got, want); // float32 vs float64 only: ~2e-6 on this seed
  assert.ok(diff < 1e-4, `max |diff| ${diff} of the logit RMS`);
  // the scaling matters: the unscaled reference is far off, except at position 0 (no rotation, one key)
  const plain = referenceLogits(fx.ref, TOKENS, { kvF16: true });
  assert.ok(relMax(got.slice(1), plain.slice(1)) > 100 * diff, 'scaled and plain RoPE give the same logits');
  assert.ok(relMax(got.slice(0, 1), plain.slice(0, 1)) < 1e-3);
  await m.dispose();
});

const probe = await testGpu();

test('WebGPU applies the same YaRN table: logits equal the WASM backend\'s (bit for bit on a software adapter)', { skip: 'skip' in probe ? probe.skip : false }, async () => {
  const path = await fixture(YARN_META);
  const rows: Float32Array[][] = [];
  for (const backend of ['cpu', 'webgpu'] as const) {
    const m = await loadModel(path, { backend, lmHead: 'exact', contextSize: 128 });
    rows.push(await m.evaluate(TOKENS));
    await m.dispose();
  }
  const rel = 'skip' in probe || probe.hardware ? 5e-2 : 0; // a hardware GPU may fuse multiply-adds (webgpu-e2e.test.ts)
  rows[0]!.forEach((row, t) => {
    const amax = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    row.forEach((x, i) => assert.ok(rel === 0 ? Object.is(rows[1]![t]![i], x) : Math.abs(rows[1]![t]![i]! - x) <= rel * amax, `position ${t} logit ${i}`));
  });
});

test('a YaRN model generates past its training context', async () => {
  const m = await loadModel(await fixture(YARN_META), { contextSize: 128 });
  const r = await m.complete('Once upon a time', { maxTokens: 100, temperature: 0, ignoreEos: true });
  assert.equal(r.tokens.length, 100);
  assert.ok(r.stats.promptTokens + r.tokens.length > 64);
  await m.dispose();
});

test('LoadOptions.rope overrides the file as llama.cpp\'s flags do', async () => {
  const yarnPath = await fixture(YARN_META);
  const plainPath = await fixture([]);
  const hp = async (path: string, rope: LoadOptions['rope']) => {
    const m = await loadModel(path, { rope: rope!, contextSize: 8 });
    await m.dispose();
    return m.hparams;
  };
  // type none never scales, whatever the factor
  assert.deepEqual(await hp(yarnPath, { scaling: 'none' }).then((h) => [h.ropeScaling.type, h.ropeScaling.freqScale, h.ropeScaling.extFactor]), ['none', 1, 0]);
  const y = (await hp(yarnPath, { scale: 2, yarnBetaFast: 16, yarnOrigCtx: 48, yarnAttnFactor: 1.5, freqBase: 1e6 }));
  assert.deepEqual(y.ropeScaling, { type: 'yarn', freqScale: 0.5, extFactor: 1, attnFactor: 1.5, betaFast: 16, betaSlow: 1, origCtx: 48 });
  assert.equal(y.ropeFreqBase, 1e6);
  assert.equal((await hp(yarnPath, { yarnExtFactor: 0 })).ropeScaling.extFactor, 0);
  // a file without scaling keys is linear with factor 1 (llama.cpp's default type): --rope-scale alone interpolates
  const plain = await loadModel(plainPath, { contextSize: 8 });
  assert.deepEqual(plain.hparams.ropeScaling, { type: 'linear', freqScale: 1, extFactor: 0, attnFactor: 1, betaFast: 32, betaSlow: 1, origCtx: 64 });
  await plain.dispose();
  assert.deepEqual(await hp(plainPath, { scale: 4 }).then((h) => [h.ropeScaling.type, h.ropeScaling.freqScale, h.ropeScaling.extFactor]), ['linear', 0.25, 0]);
  // yarn asked of a plain file: ext factor 1, and the training context as the original one
  assert.deepEqual(await hp(plainPath, { scaling: 'yarn', scale: 2 }).then((h) => [h.ropeScaling.freqScale, h.ropeScaling.extFactor, h.ropeScaling.origCtx]), [0.5, 1, 64]);
});

test('older and extra GGUF keys: rope.scale_linear, rope.scaling.attn_factor, the yarn_* defaults', async () => {
  const m = await loadModel(await fixture([[k(ARCH_KEY.ropeScaleLinear), gv.f32(2)]]), { contextSize: 8 });
  assert.deepEqual([m.hparams.ropeScaling.type, m.hparams.ropeScaling.freqScale], ['linear', 0.5]);
  await m.dispose();
  const meta: Array<[string, GgufTypedValue]> = [
    ...YARN_META,
    [k(ARCH_KEY.ropeScalingAttnFactor), gv.f32(0.5)],
    [k(ARCH_KEY.ropeScalingYarnBetaFast), gv.f32(64)],
    [k(ARCH_KEY.ropeScalingYarnBetaSlow), gv.f32(2)],
    [k(ARCH_KEY.ropeScalingYarnExtFactor), gv.f32(0.75)],
  ];
  const y = await loadModel(await fixture(meta), { contextSize: 8, rope: { yarnAttnFactor: 3 } });
  // the flag's attention factor times the file's rope.scaling.attn_factor, as llama_context computes it
  assert.deepEqual(y.hparams.ropeScaling, { type: 'yarn', freqScale: 0.25, extFactor: 0.75, attnFactor: 1.5, betaFast: 64, betaSlow: 2, origCtx: 32 });
  await y.dispose();
});

test('bad RoPE scaling metadata and options are typed errors naming the key or option', async () => {
  const rejects = async (path: string, opts: LoadOptions, code: string, name: string) =>
    assert.rejects(loadModel(path, opts), (e: unknown) => {
      assert.ok(e instanceof BitnetError, String(e));
      assert.equal(e.code, code, e.message);
      assert.ok(e.message.includes(name), `"${e.message}" should name ${name}`);
      return true;
    });
  await rejects(await fixture([[k(ARCH_KEY.ropeScalingType), gv.str('longrope')]]), {}, 'BAD_METADATA', k(ARCH_KEY.ropeScalingType));
  await rejects(await fixture([[k(ARCH_KEY.ropeScalingFactor), gv.f32(-2)]]), {}, 'BAD_METADATA', k(ARCH_KEY.ropeScalingFactor));
  await rejects(await fixture([[k(ARCH_KEY.ropeScalingAttnFactor), gv.f32(0)]]), {}, 'BAD_METADATA', k(ARCH_KEY.ropeScalingAttnFactor));
  const path = await fixture([]);
  for (const [rope, name] of [
    [{ scale: 0 }, 'rope.scale'],
    [{ scale: -4 }, 'rope.scale'],
    [{ scale: Number.NaN }, 'rope.scale'],
    [{ freqBase: 0 }, 'rope.freqBase'],
    [{ yarnOrigCtx: 1.5 }, 'rope.yarnOrigCtx'],
    [{ yarnExtFactor: 2 }, 'rope.yarnExtFactor'],
    [{ yarnAttnFactor: -1 }, 'rope.yarnAttnFactor'],
    [{ yarnBetaFast: 0 }, 'rope.yarnBetaFast'],
    [{ yarnBetaSlow: Infinity }, 'rope.yarnBetaSlow'],
    [{ scaling: 'ntk' as 'yarn' }, 'rope.scaling'],
  ] as const) {
    await rejects(path, { rope }, 'INVALID_ARGUMENT', name);
  }
});
