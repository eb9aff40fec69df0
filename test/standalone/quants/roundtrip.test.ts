// Seeded round trips for every codec: ternary encode -> decode is exact, quantize -> dequantize stays within
// each type's error bound, and the TQ1_0 trit order follows the dequantize loops of bitnet-spec §4.5.4.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockCodec, TernaryCodec } from '../../../src/formats/quants/index.js';
import {
  bf16Codec,
  f16Codec,
  f32Codec,
  i2_sCodec,
  i2sByteSize,
  q6_KCodec,
  q8_0Codec,
  q4_0Codec,
  tq1_0Codec,
  tq2_0Codec,
} from '../../../src/formats/quants/index.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../../src/util/f16.js';
import { Rng } from '../../../src/util/rng.js';

function ternary(rng: Rng, n: number, zeroBlocks: number[] = [], blockSize = 256): Int8Array {
  const v = new Int8Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.int(3) - 1;
  for (const b of zeroBlocks) v.fill(0, b * blockSize, (b + 1) * blockSize);
  return v;
}

function gaussian(rng: Rng, n: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * scale;
  return x;
}

const TQ: [string, BlockCodec & TernaryCodec][] = [
  ['tq1_0', tq1_0Codec],
  ['tq2_0', tq2_0Codec],
];

for (const [name, codec] of TQ) {
  test(`${name}: encodeTernary -> decodeTernary is exact; all-zero blocks get d = 0`, () => {
    const rng = new Rng(11);
    for (const nb of [1, 2, 5, 9]) {
      const v = ternary(rng, 256 * nb, nb > 1 ? [1] : []);
      const alpha = 0.0123;
      const blob = codec.encodeTernary(v, alpha);
      assert.equal(blob.length, nb * codec.typeSize);
      const plain = codec.decodeTernary(blob, v.length);
      assert.deepEqual(plain.values, v);
      assert.equal(plain.scaleBlock, 256);
      assert.equal(plain.scales.length, nb);
      for (let b = 0; b < nb; b++) {
        assert.equal(plain.scales[b], nb > 1 && b === 1 ? 0 : f16ToF32(f32ToF16(alpha)));
      }
    }
  });

  test(`${name}: quantize(alpha * values) equals encodeTernary(values, alpha) for f16-exact alpha`, () => {
    const rng = new Rng(12);
    for (let rep = 0; rep < 20; rep++) {
      // a random normal f16 value in [2^-10, 2^4)
      const alpha = f16ToF32(((5 + rng.int(14)) << 10) | rng.int(1024));
      const v = ternary(rng, 256 * (1 + rng.int(4)), rep % 3 === 0 ? [0] : []);
      const x = new Float32Array(v.length);
      for (let i = 0; i < v.length; i++) x[i] = alpha * v[i]!;
      const q = codec.quantize(x);
      assert.deepEqual(q, codec.encodeTernary(v, alpha), `alpha ${alpha}`);
      const y = new Float32Array(x.length);
      codec.dequantize(q, x.length, y);
      assert.deepEqual(y, x.map((e) => e + 0)); // exact (and -0 free)
    }
  });

  test(`${name}: quantize of non-ternary input rounds x/absmax half away from zero`, () => {
    const rng = new Rng(13);
    const x = gaussian(rng, 256 * 3);
    const y = new Float32Array(x.length);
    codec.dequantize(codec.quantize(x), x.length, y);
    for (let b = 0; b < 3; b++) {
      let amax = 0;
      for (let i = 0; i < 256; i++) amax = Math.max(amax, Math.abs(x[256 * b + i]!));
      const d = f16ToF32(f32ToF16(amax));
      for (let i = 256 * b; i < 256 * (b + 1); i++) {
        const r = x[i]! / amax;
        const want = Math.abs(r) >= 0.5 ? Math.sign(r) * d : 0;
        if (Math.abs(Math.abs(r) - 0.5) > 1e-6) assert.equal(y[i], want, `element ${i}`);
      }
    }
  });
}

test('tq1_0: element order is that of the dequantize loops (qs[m] trit n = 32n+m, qs[32+m] = 160+16n+m, qh[j] = 240+4n+j)', () => {
  // spec 4.5.4 decode written out directly
  const specDecode = (blk: Uint8Array): Int8Array => {
    const out = new Int8Array(256);
    const trit = (b: number, n: number): number => ((((b * 3 ** n) & 0xff) * 3) >> 8) - 1;
    for (let n = 0; n < 5; n++) for (let m = 0; m < 32; m++) out[32 * n + m] = trit(blk[m]!, n);
    for (let n = 0; n < 5; n++) for (let m = 0; m < 16; m++) out[160 + 16 * n + m] = trit(blk[32 + m]!, n);
    for (let n = 0; n < 4; n++) for (let j = 0; j < 4; j++) out[240 + 4 * n + j] = trit(blk[48 + j]!, n);
    return out;
  };
  // random bytes: every element sees a different (byte, trit) pattern
  const rng = new Rng(21);
  const blk = new Uint8Array(54);
  for (let rep = 0; rep < 50; rep++) {
    for (let i = 0; i < 52; i++) blk[i] = rng.int(256);
    blk[52] = 0x00;
    blk[53] = 0x3c; // d = 1
    const want = specDecode(blk);
    assert.deepEqual(tq1_0Codec.decodeTernary(blk, 256).values, want);
    const y = new Float32Array(256);
    tq1_0Codec.dequantize(blk, 256, y);
    assert.deepEqual(y, Float32Array.from(want));
  }
  // one-hot: element e changes exactly the byte the spec names, at the trit the spec names
  const zero = tq1_0Codec.encodeTernary(new Int8Array(256), 1);
  for (let e = 0; e < 256; e++) {
    const v = new Int8Array(256);
    v[e] = e % 2 ? 1 : -1;
    const blk1 = tq1_0Codec.encodeTernary(v, 1);
    const byte = e < 160 ? e % 32 : e < 240 ? 32 + ((e - 160) % 16) : 48 + ((e - 240) % 4);
    const changed = [...blk1.subarray(0, 52)].flatMap((b, i) => (b !== zero[i] ? [i] : []));
    assert.deepEqual(changed, [byte], `element ${e}`);
    assert.deepEqual(specDecode(blk1), v);
  }
});

test('i2_s: encodeTernary -> decodeTernary is exact for n = 128k, scale stored as f32', () => {
  const rng = new Rng(31);
  for (const k of [1, 2, 3, 7, 20, 54]) {
    const n = 128 * k;
    const v = ternary(rng, n);
    const alpha = 1.2345678;
    const blob = i2_sCodec.encodeTernary(v, alpha);
    assert.equal(blob.length, i2sByteSize(n));
    assert.deepEqual([...blob.subarray(n / 4 + 4)], new Array(28).fill(0));
    const plain = i2_sCodec.decodeTernary(blob, n);
    assert.deepEqual(plain.values, v);
    assert.deepEqual([...plain.scales], [Math.fround(alpha)]);
    assert.equal(plain.scaleBlock, n);
    // spec 4.5.1 decode written out directly
    for (let e = 0; e < n; e += 1 + rng.int(7)) {
      const b = Math.floor(e / 128);
      const j = e % 128;
      const code = (blob[32 * b + (j % 32)]! >> (6 - 2 * Math.floor(j / 32))) & 3;
      assert.equal([-1, 0, 1, 0][code], v[e]);
    }
  }
});

test('i2_s: quantize follows quantize_i2_s (alpha = max|x|, |x| < 1e-6 -> 0, else sign)', () => {
  const rng = new Rng(32);
  const n = 128 * 5;
  const v = ternary(rng, n);
  const alpha = Math.fround(0.8125);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = alpha * v[i]!;
  const blob = i2_sCodec.quantize(x);
  assert.deepEqual(blob, i2_sCodec.encodeTernary(v, alpha));
  const y = new Float32Array(n);
  i2_sCodec.dequantize(blob, n, y);
  assert.deepEqual(y, x.map((e) => e + 0));

  // values are not re-scaled: any |x| >= 1e-6 becomes its sign, alpha is the absolute max
  const z = new Float32Array(128);
  z.set([0.5, -3, 9e-7, -9e-7, 2e-6, -0]);
  const p = i2_sCodec.decodeTernary(i2_sCodec.quantize(z), 128);
  assert.deepEqual([...p.values.subarray(0, 6)], [1, -1, 0, 0, 1, 0]);
  assert.deepEqual([...p.scales], [3]);
});

test('q8_0: |x - dequant(quant(x))| <= d/2 plus the f16 rounding of d', () => {
  const rng = new Rng(41);
  for (const nb of [1, 3, 8]) {
    const x = gaussian(rng, 32 * nb, 0.1);
    const q = q8_0Codec.quantize(x);
    assert.equal(q.length, 34 * nb);
    const y = new Float32Array(x.length);
    q8_0Codec.dequantize(q, x.length, y);
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]!));
      const d32 = Math.fround(amax / 127);
      const d16 = f16ToF32(q[34 * b]! | (q[34 * b + 1]! << 8));
      for (let j = 0; j < 32; j++) {
        const i = 32 * b + j;
        const qi = (q[34 * b + 2 + j]! << 24) >> 24;
        const bound = d16 / 2 + Math.abs(qi) * Math.abs(d32 - d16) + 1e-7 * amax;
        assert.ok(Math.abs(x[i]! - y[i]!) <= bound, `element ${i}: ${x[i]} -> ${y[i]}`);
      }
    }
  }
});

test('q4_0: |x - dequant(quant(x))| <= d/2 plus the f16 rounding of d (and the clamped top level)', () => {
  const rng = new Rng(43);
  for (const nb of [1, 3, 8]) {
    const x = gaussian(rng, 32 * nb, 0.1);
    const q = q4_0Codec.quantize(x);
    assert.equal(q.length, 18 * nb);
    const y = new Float32Array(x.length);
    q4_0Codec.dequantize(q, x.length, y);
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]!));
      const d32 = Math.abs(Math.fround(amax / 8));
      const d16 = Math.abs(f16ToF32(q[18 * b]! | (q[18 * b + 1]! << 8)));
      for (let j = 0; j < 32; j++) {
        const i = 32 * b + j;
        const nib = j < 16 ? q[18 * b + 2 + j]! & 15 : q[18 * b + 2 + j - 16]! >> 4;
        // levels -8..7 of d: the value at -max's side (+8 d) is clamped to 7 d, one whole step
        const bound = d16 + Math.abs(nib - 8) * Math.abs(d32 - d16) + 1e-7 * amax;
        assert.ok(Math.abs(x[i]! - y[i]!) <= bound, `element ${i}: ${x[i]} -> ${y[i]}`);
        if (Math.abs(x[i]!) < amax * 0.8) assert.ok(Math.abs(x[i]! - y[i]!) <= d16 / 2 + 8 * Math.abs(d32 - d16) + 1e-7 * amax, `element ${i}`);
      }
    }
  }
});

test('q6_K: quantize -> dequantize has small relative error over several super-blocks', () => {
  const rng = new Rng(51);
  for (const nb of [1, 2, 5]) {
    const x = gaussian(rng, 256 * nb, 0.02);
    x.fill(0, 16, 32); // an all-zero sub-block
    const q = q6_KCodec.quantize(x);
    assert.equal(q.length, 210 * nb);
    const y = new Float32Array(x.length);
    q6_KCodec.dequantize(q, x.length, y);
    let err = 0;
    let sig = 0;
    for (let i = 0; i < x.length; i++) {
      err += (x[i]! - y[i]!) ** 2;
      sig += x[i]! ** 2;
    }
    assert.ok(Math.sqrt(err / sig) < 0.02, `relative rmse ${Math.sqrt(err / sig)}`);
    for (let i = 16; i < 32; i++) assert.equal(Math.abs(y[i]!), 0);
  }
  // an all-zero super-block is written as 210 zero bytes
  assert.deepEqual(q6_KCodec.quantize(new Float32Array(256)), new Uint8Array(210));
});

test('f16, bf16, f32: quantize -> dequantize is the storage rounding', () => {
  const rng = new Rng(61);
  const x = gaussian(rng, 1000, 100);
  const y = new Float32Array(x.length);
  f16Codec.dequantize(f16Codec.quantize(x), x.length, y);
  assert.deepEqual(y, x.map((e) => f16ToF32(f32ToF16(e))));
  bf16Codec.dequantize(bf16Codec.quantize(x), x.length, y);
  assert.deepEqual(y, x.map((e) => bf16ToF32(f32ToBf16(e))));
  f32Codec.dequantize(f32Codec.quantize(x), x.length, y);
  assert.deepEqual(y, x);
});

test('row-wise dequantize of a larger tensor equals whole-tensor dequantize', () => {
  const rng = new Rng(71);
  const rows = 6;
  const cols = 512;
  const x = gaussian(rng, rows * cols);
  for (const codec of [f16Codec, bf16Codec, q8_0Codec, q4_0Codec, q6_KCodec, tq1_0Codec, tq2_0Codec]) {
    const q = codec.quantize(x);
    const whole = new Float32Array(x.length);
    codec.dequantize(q, x.length, whole);
    const rowBytes = (cols / codec.blockSize) * codec.typeSize;
    const byRow = new Float32Array(x.length);
    for (let r = 0; r < rows; r++) codec.dequantize(q.subarray(r * rowBytes, (r + 1) * rowBytes), cols, byRow, r * cols);
    assert.deepEqual(byRow, whole, codec.name);
  }
});

test('tq1_0 / tq2_0: encodeTernaryBlocks with the scales decodeTernary returns rewrites the blocks byte for byte', () => {
  const rng = new Rng(42);
  for (const codec of [tq1_0Codec, tq2_0Codec]) {
    const nb = 6;
    const values = new Int8Array(nb * 256);
    for (let i = 0; i < values.length; i++) values[i] = i >= 512 && i < 768 ? 0 : rng.int(3) - 1; // block 2 all zero
    const scales = Float32Array.from([0.5, 0.0123, 3, 1e-5, -0.25, 65504].map((s) => f16ToF32(f32ToF16(s))));
    const bytes = codec.encodeTernaryBlocks!(values, scales);
    const back = codec.decodeTernary(bytes, values.length);
    assert.deepEqual(back.values, values);
    assert.deepEqual(back.scales, scales, `${codec.name}: an all-zero block keeps its scale, negative and extreme f16 scales survive`);
    assert.deepEqual(codec.encodeTernaryBlocks!(back.values, back.scales), bytes);
    assert.throws(() => codec.encodeTernaryBlocks!(values, scales.subarray(1)), /5 block scales for 6 blocks/);
  }
});
