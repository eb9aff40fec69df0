// The reference backend's ops against naive twins written here from the spec, on seeded random shapes
// including odd sizes. Integer paths (activation quantization, the ternary dot and its epilogue) and the
// float32 ops written in a fixed order are checked bit for bit; fast backends are checked against the
// reference itself in backends.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { q8_0Codec } from '../../../src/formats/quants/index.js';
import type { TensorType } from '../../../src/formats/types.js';
import { BF16, F16, F32, Q6_K, Q8_0 } from '../../../src/formats/types.js';
import type { Backend } from '../../../src/kernels/backend.js';
import { refBackend } from '../../../src/kernels/ref/index.js';
import { f16ToF32, roundF16 } from '../../../src/util/f16.js';
import { ropeTable } from '../../../src/kernels/math.js';
import { requantizeInt8Rows } from '../../../src/kernels/requant.js';
import { Rng } from '../../../src/util/rng.js';

const BACKENDS: Backend[] = [refBackend];
const acts = (be: Backend, x: Float32Array, T: number, K: number) => {
  const out = be.allocActs(T, K);
  be.quantizeActs(x, out);
  return out;
};
const fround = Math.fround;
const rng = new Rng(1234);

function randomF32(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** The spec's activation quantization (3.2) with bitnet.cpp's float32 scale, written plainly. */
function naiveQuantize(x: Float32Array): { q: number[]; s: number; sum: number } {
  const max = Math.max(1e-5, ...Array.from(x, Math.abs));
  const s = fround(127 / max);
  const q = Array.from(x, (v) => {
    const y = fround(v * s);
    const r = Math.round(y);
    const even = Math.abs(y - Math.trunc(y)) === 0.5 ? 2 * Math.round(y / 2) : r; // ties to even
    return Math.max(-128, Math.min(127, even)) + 0; // +0: no negative zero
  });
  return { q, s, sum: q.reduce((a, b) => a + b, 0) };
}

for (const be of BACKENDS) {
  test(`${be.name}: activation quantization is bitnet.cpp's quantize_row_i8_s`, () => {
    for (const K of [1, 3, 64, 127, 256, 1000]) {
      const T = 1 + rng.int(3);
      const x = randomF32(T * K, 0.01 + rng.next() * 10);
      const got = acts(be, x, T, K);
      for (let t = 0; t < T; t++) {
        const want = naiveQuantize(x.subarray(t * K, (t + 1) * K));
        assert.equal(got.scale[t], want.s);
        assert.equal(got.sum[t], want.sum);
        assert.deepEqual(Array.from(got.q.subarray(t * K, (t + 1) * K)), want.q);
      }
    }
    // ties go to even, the 1e-5 floor applies to an all-zero row
    const ties = new Float32Array([127, 2.5, -2.5, 3.5, -0.5, 0.5]); // s = 1 exactly
    assert.deepEqual(Array.from(acts(be, ties, 1, 6).q), [127, 2, -2, 4, 0, 0]);
    const zero = acts(be, new Float32Array(8), 1, 8);
    assert.equal(zero.scale[0], fround(127 / 1e-5));
    assert.deepEqual(Array.from(zero.q), new Array(8).fill(0));
  });

  test(`${be.name}: ternary matmul equals the integer dot with bitnet.cpp's epilogue, bit for bit`, () => {
    const shapes: Array<[number, number]> = [[1, 1], [3, 7], [5, 33], [16, 128], [17, 130], [64, 256], [9, 640], [31, 1001]];
    for (const [rows, cols] of shapes) {
      const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
      const alpha = fround(0.01 + rng.next());
      const w = be.createTernary({ kind: 'plain', plain: { values, scales: new Float32Array([alpha]), scaleBlock: values.length } }, rows, cols);
      assert.equal(w.alpha, alpha);
      const T = 1 + rng.int(4);
      const xq = acts(be, randomF32(T * cols), T, cols);
      const y = new Float32Array(T * rows);
      be.matmulTernary(w, xq, y);
      for (let t = 0; t < T; t++) {
        for (let r = 0; r < rows; r++) {
          let dot = 0; // signed ternary dot = sum(code * q) - sum(q) with code = w + 1
          for (let c = 0; c < cols; c++) dot += values[r * cols + c]! * xq.q[t * cols + c]!;
          const want = fround(fround(fround(dot) / xq.scale[t]!) * alpha);
          assert.equal(y[t * rows + r], want, `[${rows}x${cols}] t=${t} r=${r}`);
        }
      }
    }
  });

  test(`${be.name}: ternary matmul with per-block scales (TQ blocks whose d differ)`, () => {
    const rows = 6;
    const cols = 512;
    const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
    const scales = new Float32Array(rows * 2).map(() => roundF16(0.1 + rng.next()));
    const w = be.createTernary({ kind: 'plain', plain: { values, scales, scaleBlock: 256 } }, rows, cols);
    assert.equal(w.alpha, undefined);
    const xq = acts(be, randomF32(cols), 1, cols);
    const y = new Float32Array(rows);
    be.matmulTernary(w, xq, y);
    for (let r = 0; r < rows; r++) {
      let acc = 0; // float32 sum over blocks of dot_b * d_b, then / s
      for (let b = 0; b < 2; b++) {
        let dot = 0;
        for (let c = b * 256; c < (b + 1) * 256; c++) dot += values[r * cols + c]! * xq.q[c]!;
        acc = fround(acc + fround(dot * scales[r * 2 + b]!));
      }
      assert.equal(y[r], fround(acc / xq.scale[0]!));
    }
  });

  const denseCases: Array<[TensorType, boolean]> = [[F32, false], [F16, false], [BF16, false], [Q8_0, true], [Q6_K, true]];
  for (const [type, quantized] of denseCases) {
    test(`${be.name}: ${type.name} dense rows and lm_head matmul`, () => {
      const rows = 11;
      const cols = 512;
      const w = randomF32(rows * cols, 0.1);
      const bytes = type.codec.quantize(w);
      const m = be.createDense({ type, bytes }, rows, cols);
      const stored = new Float32Array(rows * cols);
      type.codec.dequantize(bytes, rows * cols, stored);
      for (const roundInput of [false, true]) {
        const T = 2;
        const x = randomF32(T * cols);
        const y = new Float32Array(T * rows);
        be.matmulDense(m, x, T, y, roundInput);
        for (let t = 0; t < T; t++) {
          for (let r = 0; r < rows; r++) {
            let acc = 0;
            let acc64 = 0;
            for (let c = 0; c < cols; c++) {
              const xv = x[t * cols + c]!;
              // ggml's single-row F16/BF16 path rounds the activation to the weight's type
              const xi = roundInput && type === F16 ? roundF16(xv) : roundInput && type === BF16 ? bf16Round(xv) : xv;
              acc = fround(acc + fround(stored[r * cols + c]! * xi)); // float32, in column order
              acc64 += stored[r * cols + c]! * xv;
            }
            if (!quantized) {
              assert.equal(y[t * rows + r], acc, `${type.name} r=${r}`);
              continue;
            }
            const err = Math.abs(y[t * rows + r]! - acc64);
            // Q8_0/Q6_K quantize the activation (ggml's vec_dot_type): 6 sigma of cols uniform rounding errors
            const amax = Math.max(...Array.from(x.subarray(t * cols, (t + 1) * cols), Math.abs));
            const bound = 6 * Math.sqrt(cols) * (amax / 127 / Math.sqrt(12)) * 0.1;
            assert.ok(err <= bound, `${type.name} r=${r}: ${y[t * rows + r]} vs ${acc64}`);
          }
        }
      }
    });
  }

  test(`${be.name}: Q8_0 lm_head is ggml's integer q8_0 x q8_0 dot exactly`, () => {
    const cols = 96;
    const w = randomF32(3 * cols);
    const wb = q8_0Codec.quantize(w);
    const m = be.createDense({ type: Q8_0, bytes: wb }, 3, cols);
    const x = randomF32(cols);
    const xb = q8_0Codec.quantize(x);
    const y = new Float32Array(3);
    be.matmulDense(m, x, 1, y, true);
    for (let r = 0; r < 3; r++) {
      let sumf = 0;
      for (let b = 0; b < cols / 32; b++) {
        const wo = r * (cols / 32) * 34 + b * 34;
        const xo = b * 34;
        let sumi = 0;
        for (let j = 0; j < 32; j++) sumi += ((wb[wo + 2 + j]! << 24) >> 24) * ((xb[xo + 2 + j]! << 24) >> 24);
        const dw = f16ToF32(wb[wo]! | (wb[wo + 1]! << 8));
        const dx = f16ToF32(xb[xo]! | (xb[xo + 1]! << 8));
        sumf = fround(sumf + fround(sumi * fround(dw * dx)));
      }
      assert.equal(y[r], sumf);
    }
  });

  test(`${be.name}: RMSNorm follows ggml (float squares summed in double, then x * scale * w)`, () => {
    for (const n of [1, 5, 256, 6912]) {
      const x = randomF32(2 * n, 3);
      const w = randomF32(n);
      const out = new Float32Array(2 * n);
      be.rmsNorm(x, 2, n, 1e-5, w, out);
      for (let t = 0; t < 2; t++) {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += fround(x[t * n + i]! * x[t * n + i]!);
        const scale = fround(1 / fround(Math.sqrt(fround(fround(sum / n) + fround(1e-5)))));
        for (let i = 0; i < n; i++) assert.equal(out[t * n + i], fround(fround(x[t * n + i]! * scale) * w[i]!));
      }
    }
  });

  test(`${be.name}: RoPE pairs (i, i+n/2) in NeoX style and (2i, 2i+1) in normal style`, () => {
    const headDim = 8;
    const x = randomF32(2 * headDim);
    for (const style of ['neox', 'norm'] as const) {
      const y = x.slice();
      be.rope(y, { T: 1, nHead: 2, headDim, nRot: headDim, style, table: ropeTable(3, 1, headDim, 10000, undefined) });
      for (let h = 0; h < 2; h++) {
        for (let i = 0; i < headDim / 2; i++) {
          const a = 3 * 10000 ** (-(2 * i) / headDim);
          const [i0, i1] = style === 'neox' ? [i, i + headDim / 2] : [2 * i, 2 * i + 1];
          const x0 = x[h * headDim + i0]!;
          const x1 = x[h * headDim + i1]!;
          assert.ok(Math.abs(y[h * headDim + i0]! - (x0 * Math.cos(a) - x1 * Math.sin(a))) < 1e-5);
          assert.ok(Math.abs(y[h * headDim + i1]! - (x0 * Math.sin(a) + x1 * Math.cos(a))) < 1e-5);
        }
      }
      const p0 = x.slice();
      be.rope(p0, { T: 1, nHead: 2, headDim, nRot: headDim, style, table: ropeTable(0, 1, headDim, 10000, undefined) });
      assert.deepEqual(p0, x, 'position 0 is the identity');
    }
  });

  test(`${be.name}: attention is causal softmax(QK^T/sqrt(d))V over the cache with GQA`, () => {
    const nHead = 4;
    const nHeadKv = 2;
    const headDim = 16;
    const T = 5;
    const width = nHeadKv * headDim;
    for (const f16 of [false, true]) {
      const q = randomF32(T * nHead * headDim);
      const k = randomF32(T * width);
      const v = randomF32(T * width);
      const kv = be.createKv(1, nHeadKv, headDim, 16, f16 ? { k: 'f16', v: 'f16' } : { k: 'f32', v: 'f32' });
      kv.reserve(T);
      const layer = kv.layers[0]!;
      be.kvStore(layer, k, v, T, 0);
      const out = new Float32Array(T * nHead * headDim);
      be.attention(q, layer, out, { T, nHead, nHeadKv, headDim, pos0: 0, scale: 0.25, kv: f16 ? { k: 'f16', v: 'f16' } : { k: 'f32', v: 'f32' } });
      const r = f16 ? roundF16 : (z: number) => z;
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < nHead; h++) {
          const g = Math.floor(h / 2);
          const s = Array.from({ length: t + 1 }, (_, j) => {
            let d = 0;
            for (let e = 0; e < headDim; e++) d += r(q[(t * nHead + h) * headDim + e]!) * r(k[j * width + g * headDim + e]!);
            return d * 0.25;
          });
          const mx = Math.max(...s);
          const p = s.map((z) => Math.exp(z - mx));
          const sum = p.reduce((a, b) => a + b, 0);
          for (let e = 0; e < headDim; e++) {
            const want = p.reduce((a, pj, j) => a + (pj / sum) * r(v[j * width + g * headDim + e]!), 0);
            // float32 sums and expf against float64: a few float32 ulps
            assert.ok(Math.abs(out[(t * nHead + h) * headDim + e]! - want) < 1e-5, `t=${t} h=${h}`);
          }
        }
      }
    }
  });

  test(`${be.name}: int8 lm_head: 7-bit rows with a row scale, int8 activations, (D / s) * scale`, () => {
    const rows = 9;
    const cols = 320;
    const w = randomF32(rows * cols, 0.05);
    const bytes = F16.codec.quantize(w);
    const m = be.createDense({ type: F16, bytes }, rows, cols, { int8: true });
    assert.equal(m.typeName, 'I8_ROWS');
    const { values, scales } = requantizeInt8Rows({ type: F16, bytes }, rows, cols);
    const stored = new Float32Array(rows * cols);
    F16.codec.dequantize(bytes, rows * cols, stored);
    for (let r = 0; r < rows; r++) {
      const amax = Math.max(...Array.from(stored.subarray(r * cols, (r + 1) * cols), Math.abs));
      assert.equal(scales[r], fround(amax / 63));
      for (let c = 0; c < cols; c++) assert.ok(Math.abs(values[r * cols + c]! * scales[r]! - stored[r * cols + c]!) <= scales[r]! / 2 + 1e-7);
    }
    const x = randomF32(2 * cols);
    const y = new Float32Array(2 * rows);
    be.matmulDense(m, x, 2, y, true);
    const xq = acts(refBackend, x, 2, cols);
    for (let t = 0; t < 2; t++) {
      for (let r = 0; r < rows; r++) {
        let d = 0;
        for (let c = 0; c < cols; c++) d += values[r * cols + c]! * xq.q[t * cols + c]!;
        assert.equal(y[t * rows + r], fround(fround(d / xq.scale[t]!) * scales[r]!));
      }
    }
  });

  test(`${be.name}: gated activations, residual add, scale`, () => {
    const g = new Float32Array([-2, -0.5, 0, 0.5, 3]);
    const u = new Float32Array([1, 2, 3, 4, 5]);
    const relu2 = g.slice();
    be.gatedAct(relu2, u, 5, 'relu2');
    assert.deepEqual(Array.from(relu2), [0, 0, 0, 1, 45]);
    const silu = g.slice();
    be.gatedAct(silu, u, 5, 'silu');
    g.forEach((x, i) => assert.ok(Math.abs(silu[i]! - (x / (1 + Math.exp(-x))) * u[i]!) < 1e-6));
    const a = new Float32Array([1, 2]);
    be.add(a, new Float32Array([0.5, -1]), 2);
    assert.deepEqual(Array.from(a), [1.5, 1]);
    be.scale(a, 2, 2);
    assert.deepEqual(Array.from(a), [3, 2]);
  });
}

function bf16Round(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) & 0xffff0000;
  return f[0]!;
}
