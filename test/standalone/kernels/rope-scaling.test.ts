// RoPE scaling (none, linear, YaRN): the float32 table of kernels/math.ts against a float64 implementation
// of llama.cpp's formulas (ggml rope_yarn, rope_yarn_ramp, ggml_rope_yarn_corr_dims; the reference's ropeScaled64), on
// random and odd shapes; and a few entries mirrored op for op from ggml's C to pin the float32 order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROPE_UNSCALED, ropeTable, yarnCorrDims, type RopeScaling } from '../../../src/kernels/math.js';
import { Rng } from '../../../src/util/rng.js';
import { ropeScaled64 } from '../../reference/forward64.js';

const fround = Math.fround;
const U = 2 ** -24; // float32 unit roundoff

/** llama.cpp's RoPE cache in float64 (the reference's ropeScaled64): rows [cos0, sin0, ...] and each pair's unscaled angle. */
function ropeTable64(pos0: number, T: number, nRot: number, base: number, ff: Float32Array | undefined, s: RopeScaling): { table: Float64Array; dims: [number, number]; extrap: Float64Array } {
  const { dims, mscale, angle } = ropeScaled64(nRot, base, s);
  const table = new Float64Array(T * nRot);
  const extrap = new Float64Array((T * nRot) / 2);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < nRot / 2; i++) {
      const theta = angle(pos0 + t, i, ff?.[i]);
      table[t * nRot + 2 * i] = Math.cos(theta) * mscale;
      table[t * nRot + 2 * i + 1] = Math.sin(theta) * mscale;
      extrap[t * (nRot / 2) + i] = ((pos0 + t) * base ** ((-2 * i) / nRot)) / (ff ? ff[i]! : 1);
    }
  }
  return { table, dims, extrap };
}

/** a 2B4T-like YaRN setup and odd ones; the values are float32 as a GGUF or a flag gives them */
const yarn = (factor: number, origCtx: number, extra: Partial<RopeScaling> = {}): RopeScaling => ({ freqScale: fround(1 / factor), extFactor: 1, attnFactor: 1, betaFast: 32, betaSlow: 1, origCtx, ...extra });
const linear = (factor: number): RopeScaling => ({ ...ROPE_UNSCALED, freqScale: fround(1 / factor) });

const CASES: Array<{ mode: string; nRot: number; base: number; s: RopeScaling; ff?: boolean }> = [
  { mode: 'none', nRot: 128, base: 500000, s: ROPE_UNSCALED },
  { mode: 'none', nRot: 6, base: 10000, s: ROPE_UNSCALED, ff: true },
  { mode: 'linear', nRot: 128, base: 500000, s: linear(4) },
  { mode: 'linear', nRot: 10, base: 10000, s: linear(0.5) }, // compression (freq scale 2), allowed as in llama.cpp
  { mode: 'linear', nRot: 64, base: 10000, s: linear(3), ff: true },
  { mode: 'yarn', nRot: 128, base: 500000, s: yarn(4, 4096) },
  { mode: 'yarn', nRot: 64, base: 10000, s: yarn(2, 2048, { betaFast: 16, betaSlow: 2, extFactor: fround(0.5), attnFactor: fround(1.3) }) },
  { mode: 'yarn', nRot: 14, base: 10000, s: yarn(8, 64), ff: true },
  { mode: 'yarn', nRot: 32, base: 1000000, s: yarn(1.5, 256, { betaFast: 40, betaSlow: 40 }) }, // an empty ramp (high - low clamped to 0.001)
];

test('RoPE scaling: the table equals a float64 implementation of llama.cpp\'s formulas in each mode', () => {
  const rng = new Rng(21);
  for (const c of CASES) {
    const ff = c.ff ? Float32Array.from({ length: c.nRot / 2 }, () => fround(1 + 7 * rng.next())) : undefined;
    for (const pos0 of [0, 1, 37, 4093, 16381]) {
      const T = 1 + Math.floor(rng.next() * 5);
      const got = ropeTable(pos0, T, c.nRot, c.base, ff, c.s);
      const want = ropeTable64(pos0, T, c.nRot, c.base, ff, c.s);
      if (c.s.extFactor !== 0) assert.deepEqual(yarnCorrDims(c.nRot, c.s.origCtx, c.base, c.s.betaFast, c.s.betaSlow), want.dims, `${c.mode} corr dims`);
      const mscale = Math.abs(want.table[0]! === 0 ? 1 : Math.hypot(want.table[0]!, want.table[1]!));
      // the float32 recurrence theta *= base^(-2/n) loses about (2 + 2 ln(base)/n) ulps of theta per pair (the
      // rounded exponent costs ln(base) * 2/n), the ramp mix and freq scale a few more, cos/sin and mscale 2
      const perPair = 2 + (2 * Math.log(c.base)) / c.nRot;
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < c.nRot / 2; i++) {
          const theta = want.extrap[t * (c.nRot / 2) + i]! * Math.max(1, c.s.freqScale);
          const bound = mscale * ((theta * (i * perPair + 8) + 4) * U);
          for (const j of [2 * i, 2 * i + 1]) {
            const err = Math.abs(got[t * c.nRot + j]! - want.table[t * c.nRot + j]!);
            assert.ok(err <= bound, `${c.mode} nRot ${c.nRot} pos ${pos0 + t} pair ${i}: error ${err} > bound ${bound}`);
          }
        }
      }
    }
  }
});

test('YaRN entries mirror ggml op for op: corr dims by hand, ramp, mix, mscale', () => {
  // n_dims 8, base 10000, n_ctx_orig 64: corr_dim(32) = 8 ln(64 / (64 pi)) / (2 ln 10000) = -0.497 -> floor -1 -> 0;
  // corr_dim(1) = 8 ln(64 / 2pi) / (2 ln 10000) = 1.008 -> ceil 2. So the ramp is 1, 1/2, 0, 0 over the 4 pairs.
  const s = yarn(4, 64);
  assert.deepEqual(yarnCorrDims(8, 64, 10000, 32, 1), [0, 2]);
  const tab = ropeTable(7, 1, 8, 10000, undefined, s);
  const scale = fround(Math.pow(10000, fround(-2 / 8)));
  const mscale = fround(1 + fround(fround(0.1) * fround(Math.log(4))));
  const extrap = [fround(7)];
  for (let i = 1; i < 4; i++) extrap.push(fround(extrap[i - 1]! * scale));
  const mix = [1, 0.5, 0, 0];
  for (let i = 0; i < 4; i++) {
    const e = extrap[i]!;
    const interp = fround(0.25 * e);
    const theta = fround(fround(interp * fround(1 - mix[i]!)) + fround(e * mix[i]!));
    assert.equal(tab[2 * i], fround(fround(Math.cos(theta)) * mscale), `cos ${i}`);
    assert.equal(tab[2 * i + 1], fround(fround(Math.sin(theta)) * mscale), `sin ${i}`);
  }
  // pair 0 is pure extrapolation (the unscaled angle), pair 3 pure interpolation (a quarter of it)
  const plain = ropeTable(7, 1, 8, 10000, undefined);
  assert.equal(tab[0], fround(plain[0]! * mscale));
  // linear: interpolation only, no magnitude change; at position 0 every scaling is the identity rotation
  const lin = ropeTable(7, 1, 8, 10000, undefined, linear(4));
  assert.equal(lin[6], fround(Math.cos(fround(0.25 * extrap[3]!))));
  const zero = ropeTable(0, 1, 8, 10000, undefined, linear(4));
  for (let i = 0; i < 4; i++) assert.deepEqual([zero[2 * i], zero[2 * i + 1]], [1, 0]);
});

test('no scaling gives the plain table bit for bit, and the attention factor alone scales it', () => {
  const plain = ropeTable(100, 3, 16, 500000, undefined);
  assert.deepEqual(ropeTable(100, 3, 16, 500000, undefined, ROPE_UNSCALED), plain);
  assert.deepEqual(ropeTable(100, 3, 16, 500000, undefined, linear(1)), plain);
  const scaled = ropeTable(100, 3, 16, 500000, undefined, { ...ROPE_UNSCALED, attnFactor: 2 });
  assert.deepEqual(scaled, plain.map((x) => 2 * x));
});
