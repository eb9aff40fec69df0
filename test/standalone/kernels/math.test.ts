// The shared float32 math: expf against Math.exp (max error in float32 ulps, special values), and the RoPE
// table against ggml's recurrence written out here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expf, EXPF_MAX, EXPF_MIN, ropeTable } from '../../../src/kernels/math.js';

const fround = Math.fround;

function ulps(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0]! - i[1]!);
}

test('expf is within 2 float32 ulps of exp over its range, and exact at the edges', () => {
  let worst = 0;
  for (let k = 0; k <= 200000; k++) {
    const x = fround(EXPF_MIN + ((EXPF_MAX - EXPF_MIN) * k) / 200000);
    const want = fround(Math.exp(x));
    if (want === 0 || !Number.isFinite(want) || want < 1.2e-38) continue; // subnormal results: absolute error checked below
    worst = Math.max(worst, ulps(expf(x), want));
  }
  assert.ok(worst <= 2, `worst error ${worst} ulps`);
  assert.equal(expf(0), 1);
  assert.equal(expf(-Infinity), 0);
  assert.equal(expf(Infinity), Infinity);
  assert.ok(Number.isNaN(expf(NaN)));
  assert.equal(expf(89), Infinity);
  assert.equal(expf(-104), 0);
  assert.ok(Math.abs(expf(-100) - Math.exp(-100)) < 1e-45);
  for (const x of [-1, -0.5, 0.5, 1, 10, -10]) assert.equal(expf(x), expf(x), 'deterministic');
});

test('the RoPE table follows ggml: theta = pos, times base^(-2/n) per pair, in float32', () => {
  const nRot = 8;
  const tab = ropeTable(5, 2, nRot, 10000, undefined);
  const scale = fround(Math.pow(10000, fround(-2 / nRot)));
  for (let t = 0; t < 2; t++) {
    let theta = fround(5 + t);
    for (let i = 0; i < nRot / 2; i++) {
      assert.equal(tab[t * nRot + 2 * i], fround(Math.cos(theta)));
      assert.equal(tab[t * nRot + 2 * i + 1], fround(Math.sin(theta)));
      theta = fround(theta * scale);
    }
  }
  const ff = new Float32Array([1, 2, 4, 8]);
  const withFactors = ropeTable(3, 1, nRot, 10000, ff);
  assert.equal(withFactors[2], fround(Math.cos(fround(fround(3 * scale) / 2))));
});
