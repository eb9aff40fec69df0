// Every fast backend against the reference backend, op by op, on seeded random shapes (odd sizes, rows and
// token counts that are not multiples of the kernels' tiles), with 1 and several threads: every result must
// be bit-identical. The relaxed-SIMD build is included where the runtime supports it (Node >= 22).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { i2_sCodec, tq2_0Codec, f16Codec, q8_0Codec } from '../../../src/formats/quants/index.js';
import { BF16, F16, F32, Q8_0, type TensorType } from '../../../src/formats/types.js';
import type { DenseSource } from '../../../src/formats/model-file.js';
import type { Backend, QuantizedActs } from '../../../src/kernels/backend.js';
import { ropeTable } from '../../../src/kernels/math.js';
import { refBackend } from '../../../src/kernels/ref/index.js';
import { REQUANT_CHUNK_ROWS } from '../../../src/kernels/requant.js';
import { createWasmBackend, type WasmBackend } from '../../../src/kernels/wasm/backend.js';
import { compileKernels, relaxedAllowed } from '../../../src/kernels/wasm/module.js';
import { f16ToF32, f32ToBf16, f32ToF16, roundF16 } from '../../../src/util/f16.js';
import { Rng } from '../../../src/util/rng.js';

const rng = new Rng(99);
const nodeMajor = Number(process.versions.node.split('.')[0]);
const relaxed = nodeMajor >= 22;

// parallelMinWork 0: even the small test shapes are split across the threads
const CONFIGS: Array<{ kernels: 'simd' | 'relaxed'; threads: number; parallelMinWork: number }> = [
  { kernels: 'simd', threads: 1, parallelMinWork: 0 },
  { kernels: 'simd', threads: 3, parallelMinWork: 0 },
  ...(relaxed ? [{ kernels: 'relaxed' as const, threads: 1, parallelMinWork: 0 }, { kernels: 'relaxed' as const, threads: 2, parallelMinWork: 0 }] : []),
];

function fill(a: Float32Array, scale = 1): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * scale;
  return a;
}

function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} is ${a[i]}, the reference says ${b[i]}`);
  }
}

function quantizeBoth(be: Backend, x: Float32Array, T: number, K: number): [QuantizedActs, QuantizedActs] {
  const xb = be.allocF32(T * K);
  xb.set(x);
  const qb = be.allocActs(T, K);
  be.quantizeActs(xb, qb);
  const qr = refBackend.allocActs(T, K);
  refBackend.quantizeActs(x, qr);
  be.free(xb);
  return [qb, qr];
}

test('the ternary kernel option: auto picks one of the two, unknown names are refused', async () => {
  const be = await createWasmBackend({ kernels: 'simd' });
  assert.ok(['lut', 'mad'].includes(be.ternaryKernel));
  await assert.rejects(createWasmBackend({ ternaryKernel: 'fast' as 'lut' }), /unknown ternary kernel/);
  be.dispose();
});

test('relaxed SIMD is never chosen on Node < 22 (its baseline compiler computes the relaxed dot wrong)', () => {
  assert.equal(relaxedAllowed({ nodeVersion: '20.20.2', validates: true }), false);
  assert.equal(relaxedAllowed({ nodeVersion: '22.1.0', validates: true }), true);
  assert.equal(relaxedAllowed({ nodeVersion: '24.21.0', validates: false }), false);
  assert.equal(relaxedAllowed({ nodeVersion: undefined, validates: true }), true, 'browsers decide by validation and the probe');
  assert.equal(compileKernels().variant, relaxed ? 'relaxed' : 'simd');
  if (!relaxed) assert.throws(() => compileKernels('relaxed'), /Node >= 22/);
});

for (const cfg of CONFIGS) {
  const name = `wasm-${cfg.kernels} x${cfg.threads}`;

  test(`${name}: activation quantization`, async () => {
    const be = await createWasmBackend(cfg);
    for (const [T, K] of [[1, 1], [3, 7], [2, 128], [5, 2560], [1, 6912]] as const) {
      const x = fill(new Float32Array(T * K), 0.1 + rng.next() * 5);
      const [qb, qr] = quantizeBoth(be, x, T, K);
      same(qb.q, qr.q, `q ${T}x${K}`);
      same(qb.scale, qr.scale, 'scale');
      same(qb.sum, qr.sum, 'sum');
    }
    // a zero row (its scale from the 1e-5 floor) next to a row of multiples of 0.5
    const x = new Float32Array(2 * 37);
    for (let i = 0; i < 37; i++) x[37 + i] = (i - 18) * 0.5;
    const [qb, qr] = quantizeBoth(be, x, 2, 37);
    same(qb.q, qr.q, 'q zero/ties');
    same(qb.scale, qr.scale, 'scale zero/ties');
    same(qb.sum, qr.sum, 'sum zero/ties');
    be.dispose();
  });

  test(`${name}: ternary matmul from I2_S, TQ2_0 and plain weights (multiply-add kernels, every dot variant)`, async () => {
    const be = await createWasmBackend({ ...cfg, ternaryKernel: 'mad' });
    const tuned = be.gemvVariant;
    // single tokens: one row, odd and even row counts (rows go in pairs), K past 15 blocks (i16 widening)
    const shapes: Array<[number, number, number]> = [[1, 128, 1], [33, 384, 1], [70, 2560, 1], [5, 6912, 1], [5, 256, 3], [33, 384, 4], [70, 640, 9], [129, 2560, 5], [7, 6912, 2], [11, 256, 7], [4, 128, 4], [9, 6912, 61], [6, 2560, 83]];
    for (const [variant, [rows, cols, T]] of [0, 1, 2, 3].flatMap((v) => shapes.map((sh) => [v, sh] as const))) {
      be.gemvVariant = variant;
      const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
      const alpha = Math.fround(2 ** -(2 + rng.int(4)));
      const inputs = [
        { kind: 'i2s' as const, bytes: i2_sCodec.encodeTernary(values, alpha) },
        { kind: 'plain' as const, plain: { values, scales: new Float32Array([alpha]), scaleBlock: values.length } },
        ...(cols % 256 === 0 ? [{ kind: 'tq2_0' as const, bytes: tq2_0Codec.encodeTernary(values, alpha) }] : []),
      ];
      const x = fill(new Float32Array(T * cols));
      const [qb, qr] = quantizeBoth(be, x, T, cols);
      const want = new Float32Array(T * rows);
      refBackend.matmulTernary(refBackend.createTernary(inputs[0]!, rows, cols), qr, want);
      for (const input of inputs) {
        const w = be.createTernary(input, rows, cols);
        const y = be.allocF32(T * rows);
        be.matmulTernary(w, qb, y);
        same(y, want, `${input.kind} [${rows}x${cols}] T=${T} gemv ${variant}`);
      }
    }
    be.gemvVariant = tuned;
    be.dispose();
  });

  test(`${name}: LUT ternary kernel (forced on): odd row counts, token batches, extreme activations and weights`, async () => {
    const be = await createWasmBackend({ ...cfg, ternaryKernel: 'lut' });
    assert.equal(be.ternaryKernel, 'lut');
    const shapes: Array<[number, number]> = [[1, 128], [15, 256], [17, 640], [33, 2560], [100, 128], [16, 256], [48, 640], [7, 2560]];
    for (let i = 0; i < 24; i++) {
      const [rows, cols] = shapes[i % shapes.length]!;
      const T = 1 + (i % 9);
      const wKind = i % 5; // all -1, all +1, random (x3)
      const values = new Int8Array(rows * cols).map(() => (wKind === 0 ? -1 : wKind === 1 ? 1 : rng.int(3) - 1));
      const alpha = Math.fround(2 ** -(2 + rng.int(4)));
      const inputs = [
        { kind: 'i2s' as const, bytes: i2_sCodec.encodeTernary(values, alpha) },
        ...(cols % 256 === 0 ? [{ kind: 'tq2_0' as const, bytes: tq2_0Codec.encodeTernary(values, alpha) }] : []),
      ];
      // activations all -128, all 127 (from floats all 1), alternating -128/127, or random
      const aKind = Math.floor(i / 5) % 4;
      const x = aKind === 0 ? new Float32Array(T * cols).fill(-1) : aKind === 1 ? new Float32Array(T * cols).fill(1) : aKind === 2 ? new Float32Array(T * cols).map((_, j) => (j & 1 ? 3 : -3)) : fill(new Float32Array(T * cols));
      const [qb, qr] = quantizeBoth(be, x, T, cols);
      if (aKind === 0 || aKind === 2) {
        // -128 never comes out of quantization (absmax maps to 127): written directly, before any matmul reads them
        for (const a of [qb, qr]) {
          for (let j = 0; j < a.q.length; j++) a.q[j] = aKind === 0 || j & 1 ? -128 : 127;
          for (let t = 0; t < T; t++) a.sum[t] = a.q.subarray(t * cols, (t + 1) * cols).reduce((p, v) => p + v, 0);
        }
      }
      const want = new Float32Array(T * rows);
      refBackend.matmulTernary(refBackend.createTernary(inputs[0]!, rows, cols), qr, want);
      for (const input of inputs) {
        const w = be.createTernary(input, rows, cols);
        assert.equal(be.matrixBytes(w), (Math.ceil(rows / 16) * 16 * cols) / 4);
        const y = be.allocF32(T * rows);
        be.matmulTernary(w, qb, y);
        same(y, want, `lut ${input.kind} [${rows}x${cols}] T=${T} weights ${wKind} acts ${aKind}`);
        be.matmulTernary(w, qb, y); // tables reused
        same(y, want, `lut ${input.kind} [${rows}x${cols}] T=${T} again`);
      }
      // new values in the same activation buffer rebuild the tables
      const x2 = fill(new Float32Array(T * cols));
      const xb = be.allocF32(T * cols);
      xb.set(x2);
      be.quantizeActs(xb, qb);
      refBackend.quantizeActs(x2, qr);
      refBackend.matmulTernary(refBackend.createTernary(inputs[0]!, rows, cols), qr, want);
      const y = be.allocF32(T * rows);
      be.matmulTernary(be.createTernary(inputs[0]!, rows, cols), qb, y);
      same(y, want, `lut [${rows}x${cols}] T=${T} requantized`);
      be.free(qb);
    }
    // a batch longer than one table chunk (64 tokens)
    const [rows, cols, T] = [20, 256, 70];
    const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
    const input = { kind: 'i2s' as const, bytes: i2_sCodec.encodeTernary(values, 0.5) };
    const [qb, qr] = quantizeBoth(be, fill(new Float32Array(T * cols)), T, cols);
    const want = new Float32Array(T * rows);
    refBackend.matmulTernary(refBackend.createTernary(input, rows, cols), qr, want);
    const y = be.allocF32(T * rows);
    be.matmulTernary(be.createTernary(input, rows, cols), qb, y);
    same(y, want, `lut [${rows}x${cols}] T=${T}`);
    be.dispose();
  });

  test(`${name}: ternary matrices the kernels do not cover fall back to the reference exactly`, async () => {
    const be = await createWasmBackend(cfg);
    // per-block scales (TQ blocks with different d) and a row length that is not a multiple of 128
    const rows = 6;
    const values = new Int8Array(rows * 512).map(() => rng.int(3) - 1);
    const scales = new Float32Array(rows * 2).map(() => roundF16(0.1 + rng.next()));
    const blocky = { kind: 'plain' as const, plain: { values, scales, scaleBlock: 256 } };
    const odd = { kind: 'plain' as const, plain: { values: values.subarray(0, rows * 200), scales: new Float32Array([0.5]), scaleBlock: rows * 200 } };
    for (const [input, cols] of [[blocky, 512], [odd, 200]] as const) {
      const x = fill(new Float32Array(2 * cols));
      const [qb, qr] = quantizeBoth(be, x, 2, cols);
      const want = new Float32Array(2 * rows);
      refBackend.matmulTernary(refBackend.createTernary(input, rows, cols), qr, want);
      const y = be.allocF32(2 * rows);
      be.matmulTernary(be.createTernary(input, rows, cols), qb, y);
      same(y, want, `cols ${cols}`);
    }
    be.dispose();
  });

  test(`${name}: int8 lm_head from F16 and Q8_0, and the exact lm_head`, async () => {
    const be = await createWasmBackend(cfg);
    for (const [rows, cols, T] of [[300, 256, 1], [41, 2560, 3], [17, 100, 2], [9, 200, 1], [5, 72, 1], [6, 150, 3]] as const) {
      const w = fill(new Float32Array(rows * cols), 0.05);
      for (const data of [{ type: F16, bytes: f16Codec.quantize(w) }, ...(cols % 32 === 0 ? [{ type: Q8_0, bytes: q8_0Codec.quantize(w) }] : [])]) {
        for (const int8 of [true, false]) {
          const x = fill(new Float32Array(T * cols));
          const xb = be.allocF32(T * cols);
          xb.set(x);
          const want = new Float32Array(T * rows);
          refBackend.matmulDense(refBackend.createDense(data, rows, cols, { int8 }), x, T, want, T === 1);
          const y = be.allocF32(T * rows);
          be.matmulDense(be.createDense(data, rows, cols, { int8 }), xb, T, y, T === 1);
          same(y, want, `${data.type.name} int8=${int8} [${rows}x${cols}] T=${T}`);
        }
      }
    }
    be.dispose();
  });

  test(`${name}: int8 lm_head read from a source in chunks of REQUANT_CHUNK_ROWS equals the whole-matrix requantization`, async () => {
    const be = await createWasmBackend(cfg);
    // rows across two chunk boundaries, and a last part chunk
    for (const [rows, cols] of [[2 * REQUANT_CHUNK_ROWS + 37, 64], [REQUANT_CHUNK_ROWS + 1, 32]] as const) {
      const w = fill(new Float32Array(rows * cols), 0.05);
      for (const data of [{ type: F16, bytes: f16Codec.quantize(w) }, { type: Q8_0, bytes: q8_0Codec.quantize(w) }]) {
        const m = await be.createDenseFrom(sourceOf(data.type, rows, cols, data.bytes), { int8: true });
        for (const T of [1, 2]) {
          const x = fill(new Float32Array(T * cols));
          const xb = be.allocF32(T * cols);
          xb.set(x);
          const want = new Float32Array(T * rows);
          refBackend.matmulDense(refBackend.createDense(data, rows, cols, { int8: true }), x, T, want, T === 1);
          const y = be.allocF32(T * rows);
          be.matmulDense(m, xb, T, y, T === 1);
          same(y, want, `${data.type.name} from source [${rows}x${cols}] T=${T}`);
          be.free(xb);
          be.free(y);
        }
      }
    }
    be.dispose();
  });

  test(`${name}: exact lm_head from F16, BF16 and F32 (row groups, special values, the exact-conversion paths)`, async () => {
    const be = await createWasmBackend(cfg);
    const types: Array<[TensorType, (v: number) => number]> = [[F16, f32ToF16], [BF16, f32ToBf16], [F32, (v) => v]];
    const shapes: Array<[number, number]> = [[1, 1], [3, 7], [7, 3], [31, 33], [33, 31], [100, 130], [130, 100], [64, 64], [97, 2]];
    for (const [type, encode] of types) {
      for (const [rows, cols] of shapes) {
        for (const special of [false, true, 'inf'] as const) {
          const w = fill(new Float32Array(rows * cols), 0.05);
          if (special) specialWeights(w, type);
          // an inf or NaN weight: F16 then converts every weight exactly (no prescaled x)
          if (special === 'inf') w[rng.int(w.length)] = rng.next() < 0.5 ? Infinity : NaN;
          const bytes = encodeRows(w, type, encode);
          const viaSource = rng.next() < 0.5;
          const m = viaSource ? await be.createDenseFrom(sourceOf(type, rows, cols, bytes), { int8: false }) : be.createDense({ type, bytes }, rows, cols, { int8: false });
          const ref = refBackend.createDense({ type, bytes }, rows, cols);
          assert.equal(be.matrixBytes(m), Math.ceil(rows / 32) * 32 * cols * (type === F32 ? 4 : 2), 'bytes held');
          for (const T of [1, 2, 3, 5]) {
            for (const roundInput of [true, false]) {
              const x = fill(new Float32Array(T * cols), 2 ** (rng.int(20) - 10));
              if (special) specialInputs(x, T, cols);
              const xb = be.allocF32(T * cols);
              xb.set(x);
              const want = new Float32Array(T * rows);
              refBackend.matmulDense(ref, x, T, want, roundInput);
              const y = be.allocF32(T * rows);
              be.matmulDense(m, xb, T, y, roundInput);
              same(y, want, `${type.name} [${rows}x${cols}] T=${T} roundInput=${roundInput} special=${special} ${viaSource ? 'from source' : ''}`);
              be.free(xb);
              be.free(y);
            }
          }
        }
      }
    }
    be.dispose();
  });

  test(`${name}: rms_norm, RoPE, gated activations, add, scale`, async () => {
    const be = await createWasmBackend(cfg);
    for (const n of [1, 7, 256, 6912]) {
      const T = 5;
      const x = fill(new Float32Array(T * n), 3);
      const w = fill(new Float32Array(n));
      const want = new Float32Array(T * n);
      refBackend.rmsNorm(x, T, n, 1e-5, w, want);
      const xb = be.allocF32(T * n);
      xb.set(x);
      const out = be.allocF32(T * n);
      be.rmsNorm(xb, T, n, 1e-5, be.createVector(w), out);
      same(out, want, `rms_norm n=${n}`);
    }
    for (const style of ['neox', 'norm'] as const) {
      const p = { T: 3, nHead: 5, headDim: 64, nRot: 64, style, table: ropeTable(17, 3, 64, 500000, undefined) };
      const x = fill(new Float32Array(3 * 5 * 64));
      const xb = be.allocF32(x.length);
      xb.set(x);
      refBackend.rope(x, p);
      be.rope(xb, p);
      same(xb, x, `rope ${style}`);
    }
    // 9001 elements: several chunks of the element-wise jobs, and a tail
    for (const n of [1001, 9001]) {
      for (const act of ['relu2', 'silu'] as const) {
        const g = fill(new Float32Array(n), 4);
        const u = fill(new Float32Array(n));
        const gb = be.allocF32(n);
        const ub = be.allocF32(n);
        gb.set(g);
        ub.set(u);
        refBackend.gatedAct(g, u, n, act);
        be.gatedAct(gb, ub, n, act);
        same(gb, g, `${act} n=${n}`);
      }
    }
    for (const n of [9001, 99]) {
      const a = fill(new Float32Array(n));
      const b = fill(new Float32Array(n));
      const ab = be.allocF32(n);
      const bb = be.allocF32(n);
      ab.set(a);
      bb.set(b);
      refBackend.add(a, b, n);
      be.add(ab, bb, n);
      same(ab, a, `add n=${n}`);
    }
    const a = fill(new Float32Array(99));
    const ab = be.allocF32(99);
    ab.set(a);
    refBackend.scale(a, 99, 0.37);
    be.scale(ab, 99, 0.37);
    same(ab, a, 'scale');
    be.dispose();
  });

  test(`${name}: KV cache and attention (f16 and f32, prompt batches and single tokens, GQA groups, long context, inf in the cache, query blocks)`, async () => {
    for (const blockBytes of [undefined, 5000]) await attentionCases(await createWasmBackend({ ...cfg, ...(blockBytes ? { attentionBlockBytes: blockBytes } : {}) }));
  });
}

/** Weights as the matrix type's bytes, row-major. */
function encodeRows(w: Float32Array, type: TensorType, encode: (v: number) => number): Uint8Array {
  if (type === F32) return new Uint8Array(w.slice().buffer);
  const u16 = new Uint16Array(w.length);
  for (let i = 0; i < w.length; i++) u16[i] = encode(w[i]!);
  return new Uint8Array(u16.buffer);
}

/** A DenseSource over bytes, read in the ranges the loader asks for. */
function sourceOf(type: TensorType, rows: number, cols: number, bytes: Uint8Array): DenseSource {
  const rowBytes = bytes.byteLength / rows;
  return { type, rows, cols, read: async (r0, r1) => bytes.slice(r0 * rowBytes, r1 * rowBytes) };
}

/** f16 subnormals, signed zeros, the largest f16s (and for F32/BF16 values far outside f16), sprinkled in. */
function specialWeights(w: Float32Array, type: TensorType): void {
  const picks = [0, -0, f16ToF32(1), -f16ToF32(1), f16ToF32(0x3ff), f16ToF32(0x8201), 65504, -65504, 6.1e-5, 2 ** -14, -(2 ** -15)];
  if (type !== F16) picks.push(1e30, -3e-38, 1e-40);
  for (let i = 0; i < w.length; i++) if (rng.next() < 0.3) w[i] = picks[rng.int(picks.length)]!;
}

/**
 * Inputs of large and tiny magnitude (products and sums in the f32 subnormal range, or overflowing), signed
 * zeros; for one token in two a value of 2^17 or more, whose x·2^112 would overflow (the F16 kernel's exact
 * per-weight path), and now and then an inf.
 */
function specialInputs(x: Float32Array, T: number, cols: number): void {
  const picks = [0, -0, 1e-38, -1e-45, 3e-30, 1e-20, 60000, -65504, 1e10, 2 ** 20];
  for (let i = 0; i < x.length; i++) if (rng.next() < 0.3) x[i] = picks[rng.int(picks.length)]!;
  for (let t = 0; t < T; t++) {
    const r = rng.next();
    if (r < 0.5) x[t * cols + rng.int(cols)] = (rng.next() < 0.5 ? -1 : 1) * 2 ** (17 + rng.int(100));
    else if (r < 0.6) x[t * cols + rng.int(cols)] = -Infinity;
  }
}

/** The attention case table on one backend: each case's steps against the reference, bit for bit. */
async function attentionCases(be: WasmBackend): Promise<void> {
  // [cache type, head dim, query heads, kv heads, context, token counts per step, position of an inf K value]
  const cases: Array<['f16' | 'f32', number, number, number, number, number[], number?]> = [
    ['f16', 64, 8, 2, 40, [5, 1, 1, 7, 1]],
    ['f32', 64, 8, 2, 40, [5, 1, 1, 7, 1]],
    ['f16', 128, 8, 2, 40, [5, 1, 1, 7, 1]],
    ['f16', 16, 8, 2, 40, [5, 1, 1, 7, 1]],
    ['f16', 32, 6, 2, 20, [3, 1, 1]], // groups of 3: single-head paths
    ['f32', 32, 5, 1, 20, [2, 1, 1]], // a group of 5: four heads, then one
    ['f16', 32, 8, 2, 600, [300, 1, 250, 1, 1]], // more than one 256-position chunk of scores
    ['f16', 32, 8, 2, 30, [4, 1, 3, 1], 6], // an inf in K: the exact widening from then on
  ];
  for (const [type, headDim, nHead, nHeadKv, nCtx, steps, infAt] of cases) {
    const width = nHeadKv * headDim;
    const kvR = refBackend.createKv(1, nHeadKv, headDim, nCtx, { k: type, v: type });
    const kvB = be.createKv(1, nHeadKv, headDim, nCtx, { k: type, v: type });
    let pos = 0;
    for (const T of steps) {
      kvR.reserve(pos + T);
      kvB.reserve(pos + T);
      const k = fill(new Float32Array(T * width));
      const v = fill(new Float32Array(T * width));
      const q = fill(new Float32Array(T * nHead * headDim));
      if (infAt !== undefined && infAt >= pos && infAt < pos + T) k[(infAt - pos) * width + 3] = 1e6; // f16 overflow
      const kb = be.allocF32(k.length);
      const vb = be.allocF32(v.length);
      const qb = be.allocF32(q.length);
      kb.set(k);
      vb.set(v);
      qb.set(q);
      refBackend.kvStore(kvR.layers[0]!, k, v, T, pos);
      be.kvStore(kvB.layers[0]!, kb, vb, T, pos);
      const p = { T, nHead, nHeadKv, headDim, pos0: pos, scale: 0.125, kv: { k: type, v: type } };
      const want = new Float32Array(T * nHead * headDim);
      refBackend.attention(q, kvR.layers[0]!, want, p);
      const out = be.allocF32(want.length);
      be.attention(qb, kvB.layers[0]!, out, p);
      same(out, want, `${type} headDim ${headDim} heads ${nHead}/${nHeadKv} T=${T} pos=${pos}`);
      for (const b of [kb, vb, qb, out]) be.free(b);
      pos += T;
    }
    kvB.free();
  }
  be.dispose();
}

test('small ops run on the calling thread alone; large ones are split across the threads', async () => {
  const be = await createWasmBackend({ threads: 2 });
  const run = (rows: number, cols: number, T: number): number => {
    const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
    const w = be.createTernary({ kind: 'plain', plain: { values, scales: new Float32Array([0.5]), scaleBlock: values.length } }, rows, cols);
    const x = be.allocF32(T * cols);
    fill(x);
    const xq = be.allocActs(T, cols);
    be.quantizeActs(x, xq);
    const y = be.allocF32(T * rows);
    const before = be.parallelJobs;
    be.matmulTernary(w, xq, y);
    const want = new Float32Array(T * rows);
    refBackend.matmulTernary(refBackend.createTernary({ kind: 'plain', plain: { values, scales: new Float32Array([0.5]), scaleBlock: values.length } }, rows, cols), xq, want);
    same(y, want, `[${rows}x${cols}] T=${T}`);
    return be.parallelJobs - before;
  };
  assert.equal(run(128, 384, 1), 0, 'a tiny model-sized matrix stays on the calling thread');
  assert.equal(run(640, 2560, 1), 1, 'a 2B4T-sized matrix is split');
  assert.ok(run(128, 384, 32) >= 1, 'a small matrix over a prompt batch is split (LUT: its table build too)');
  be.dispose();
});
