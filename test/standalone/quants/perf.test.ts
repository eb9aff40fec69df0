// Coarse speed guards for the hot paths (limits are ~10x the expected time so CI noise does not trip them):
// decoding a 6912x2560 I2_S projection at load, and dequantizing one 2560-wide F16 / Q6_K embedding row per token.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16Codec, i2_sCodec, q6_KCodec } from '../../../src/formats/quants/index.js';
import { Rng } from '../../../src/util/rng.js';

test('i2_s decodeTernary of 6912 x 2560 stays well under a second', (t) => {
  const rng = new Rng(1);
  const n = 6912 * 2560;
  const v = new Int8Array(n);
  for (let i = 0; i < n; i++) v[i] = (rng.nextU32() % 3) - 1;
  const blob = i2_sCodec.encodeTernary(v, 0.5);
  i2_sCodec.decodeTernary(blob, n); // warm up
  const t0 = performance.now();
  const plain = i2_sCodec.decodeTernary(blob, n);
  const ms = performance.now() - t0;
  t.diagnostic(`i2_s decodeTernary 6912x2560: ${ms.toFixed(1)} ms`);
  assert.deepEqual(plain.values, v);
  assert.ok(ms < 1000, `${ms} ms`);
});

test('one 2560-element embedding row dequantizes in well under a millisecond (F16, Q6_K)', (t) => {
  const rng = new Rng(2);
  const rows = 256;
  const cols = 2560;
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * 0.05;
  const row = new Float32Array(cols);
  for (const codec of [f16Codec, q6_KCodec]) {
    const q = codec.quantize(x);
    const rowBytes = (cols / codec.blockSize) * codec.typeSize;
    const iters = 5000;
    for (let i = 0; i < 1000; i++) codec.dequantize(q.subarray((i % rows) * rowBytes), cols, row);
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) codec.dequantize(q.subarray((i % rows) * rowBytes), cols, row);
    const us = ((performance.now() - t0) / iters) * 1000;
    t.diagnostic(`${codec.name} row of ${cols}: ${us.toFixed(2)} us`);
    assert.ok(us < 1000, `${codec.name}: ${us} us per row`);
  }
});
