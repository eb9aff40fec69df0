// The WebGPU backend's ops against the reference backend on seeded random shapes, odd sizes included, with
// the packed int8 dot builtin and with its unpacking fallback. Bit for bit: int8 activation quantization,
// the ternary matmul (I2_S, repacked plain, per-block scales), the int8 lm_head, the elementwise ops. The
// float ops (exact f32/f16/bf16 lm_head rows, RMSNorm, RoPE, attention) are bit for bit on a software
// adapter (SwiftShader does not fuse a * b + c); a hardware GPU may fuse multiply-adds in float32 dot sums,
// so there they are checked within 4 float32 ulps (RMSNorm, RoPE, SiLU) or 1e-5 of the largest output
// (attention, dense rows). Runs on SwiftShader when no GPU is present; skips with a reason when no adapter
// can be had.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { i2_sCodec } from '../../../src/formats/quants/i2_s.js';
import { tq2_0Codec } from '../../../src/formats/quants/tq2_0.js';
import { BF16, F16, F32 } from '../../../src/formats/types.js';
import type { QuantizedActs } from '../../../src/kernels/backend.js';
import { ropeTable } from '../../../src/kernels/math.js';
import { refBackend as ref } from '../../../src/kernels/ref/index.js';
import { BitnetError } from '../../../src/errors.js';
import { createBackend } from '../../../src/kernels/index.js';
import { createWebGpuBackend, type WebGpuBackend } from '../../../src/kernels/webgpu/backend.js';
import { isHardwareAdapter } from '../../../src/kernels/webgpu/device.js';
import { roundF16 } from '../../../src/util/f16.js';
import { Rng } from '../../../src/util/rng.js';
import { testContext, testGpu } from './webgpu-gpu.js';

const probe = await testGpu();
const skip = 'skip' in probe ? probe.skip : false;
/** float ops bit for bit (a software adapter), else within the tolerances above */
const exactFloat = !('skip' in probe) && !probe.hardware;
const rng = new Rng(4321);

function randomF32(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** x on the GPU (a shadow from allocF32, uploaded). */
function onGpu(be: WebGpuBackend, x: Float32Array): Float32Array {
  const b = be.allocF32(x.length);
  b.set(x);
  be.upload(b);
  return b;
}

/** Units in the last place between two float32 values (0 when both are the same NaN/inf). */
function ulps(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const key = (v: number) => (v < 0 ? -(v & 0x7fffffff) : v);
  return Math.abs(key(i[0]!) - key(i[1]!));
}

function same(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${what}: [${i}] ${got[i]} vs ${want[i]}`);
}

/** |got - want| <= rel * max|want| elementwise (a relative bound scaled by the row's magnitude). */
function close(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  assert.equal(got.length, want.length, what);
  let amax = 0;
  for (const v of want) amax = Math.max(amax, Math.abs(v));
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= rel * amax)) assert.fail(`${what}: [${i}] ${got[i]} vs ${want[i]} (bound ${rel * amax})`);
  }
}

function refActs(x: Float32Array, T: number, K: number): QuantizedActs {
  const out = ref.allocActs(T, K);
  ref.quantizeActs(x, out);
  return out;
}

for (const packedDot of [true, false]) {
  const tag = packedDot ? 'dot4I8Packed' : 'unpacked dot';
  // small bindings (unpacked-dot matmuls, float ops): lm_head matrices split into parts, attention in query blocks
  const open = async (small = !packedDot) =>
    createWebGpuBackend({ gpu: (probe as { gpu: GPU }).gpu, context: await testContext((probe as { gpu: GPU }).gpu), packedDot, ...(small ? { maxBindingBytes: 2600 } : {}) });

  test(`webgpu (${tag}): int8 activation quantization equals the reference bit for bit`, { skip }, async () => {
    const be = await open();
    try {
      for (const K of [1, 3, 7, 64, 127, 130, 1000, 2560]) {
        const T = 1 + rng.int(4);
        const x = randomF32(T * K, 0.01 + rng.next() * 10);
        if (K > 3) x.fill(0, 0, K); // an all-zero row: the 1e-5 floor
        const xq = be.allocActs(T, K);
        be.quantizeActs(onGpu(be, x), xq);
        const got = await be.readActs(xq);
        const want = refActs(x, T, K);
        assert.deepEqual(got.q, want.q, `q K=${K}`);
        assert.deepEqual(got.scale, want.scale, `scale K=${K}`);
        assert.deepEqual(got.sum, want.sum, `sum K=${K}`);
      }
      const ties = new Float32Array([127, 2.5, -2.5, 3.5, -0.5, 0.5]);
      const xq = be.allocActs(1, 6);
      be.quantizeActs(onGpu(be, ties), xq);
      assert.deepEqual(Array.from((await be.readActs(xq)).q), [127, 2, -2, 4, 0, 0]);
    } finally {
      be.dispose();
    }
  });

  test(`webgpu (${tag}): ternary matmul (I2_S, repacked, per-block scales) equals the reference bit for bit`, { skip }, async () => {
    const be = await open();
    try {
      const shapes: Array<[number, number]> = [[1, 1], [3, 7], [5, 33], [16, 128], [17, 130], [64, 256], [9, 640], [31, 1001], [70, 2560]];
      for (const [rows, cols] of shapes) {
        const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
        const alpha = Math.fround(0.01 + rng.next());
        const inputs = [{ kind: 'plain' as const, plain: { values, scales: new Float32Array([alpha]), scaleBlock: values.length } }];
        if ((rows * cols) % 128 === 0) inputs.push({ kind: 'i2s', bytes: i2_sCodec.encodeTernary(values, alpha) } as never);
        if ((rows * cols) % 256 === 0) inputs.push({ kind: 'tq2_0', bytes: tq2_0Codec.encodeTernary(values, alpha) } as never);
        for (const input of inputs) {
          for (const T of [1, 1 + rng.int(9)]) {
            const x = randomF32(T * cols);
            const wr = ref.createTernary(input, rows, cols);
            const wg = be.createTernary(input, rows, cols);
            assert.equal(wg.alpha, wr.alpha);
            const want = new Float32Array(T * rows);
            ref.matmulTernary(wr, refActs(x, T, cols), want);
            const xq = be.allocActs(T, cols);
            be.quantizeActs(onGpu(be, x), xq);
            const y = be.allocF32(T * rows + 3);
            be.matmulTernary(wg, xq, y.subarray(3));
            same(await be.read(y.subarray(3)), want, `${input.kind} [${rows}x${cols}] T=${T}`);
          }
        }
      }
      // per-block scales whose d differ
      const rows = 6;
      const cols = 512;
      const values = new Int8Array(rows * cols).map(() => rng.int(3) - 1);
      const scales = new Float32Array(rows * 2).map(() => roundF16(0.1 + rng.next()));
      const input = { kind: 'plain' as const, plain: { values, scales, scaleBlock: 256 } };
      const wg = be.createTernary(input, rows, cols);
      assert.equal(wg.alpha, undefined);
      const x = randomF32(3 * cols);
      const want = new Float32Array(3 * rows);
      ref.matmulTernary(ref.createTernary(input, rows, cols), refActs(x, 3, cols), want);
      const xq = be.allocActs(3, cols);
      be.quantizeActs(onGpu(be, x), xq);
      const y = be.allocF32(3 * rows);
      be.matmulTernary(wg, xq, y);
      same(await be.read(y), want, 'per-block scales');
    } finally {
      be.dispose();
    }
  });

  test(`webgpu (${tag}): lm_head int8 rows and exact F32/F16/BF16 rows equal the reference bit for bit`, { skip }, async () => {
    const be = await open();
    try {
      for (const [rows, cols] of [[9, 320], [13, 7], [40, 129]] as const) {
        for (const type of [F16, F32, BF16]) {
          const bytes = type.codec.quantize(randomF32(rows * cols, 0.05));
          for (const int8 of [true, false]) {
            const wr = ref.createDense({ type, bytes }, rows, cols, { int8 });
            const wg = be.createDense({ type, bytes }, rows, cols, { int8 });
            const src = { type, rows, cols, read: async (r0: number, r1: number) => bytes.subarray((r0 * bytes.length) / rows, (r1 * bytes.length) / rows) };
            const wf = await be.createDenseFrom(src, { int8 });
            assert.equal(be.matrixBytes(wg), be.matrixBytes(wf));
            if (!packedDot && rows === 40) assert.ok((wg as unknown as { parts: unknown[] }).parts.length > 1, 'split into parts');
            for (const T of [1, 3]) {
              for (const roundInput of [false, true]) {
                const x = randomF32(T * cols);
                const want = new Float32Array(T * rows);
                ref.matmulDense(wr, x, T, want, roundInput);
                for (const w of [wg, wf]) {
                  const y = be.allocF32(T * rows);
                  be.matmulDense(w, onGpu(be, x), T, y, roundInput);
                  const what = `${type.name} int8=${int8} [${rows}x${cols}] T=${T} round=${roundInput}`;
                  if (int8 || exactFloat) same(await be.read(y), want, what);
                  else close(await be.read(y), want, 1e-5, what);
                }
              }
            }
          }
        }
      }
    } finally {
      be.dispose();
    }
  });

  if (!packedDot) continue; // the float ops do not use the dot

  test('webgpu: RMSNorm (in place and not) equals the reference', { skip }, async () => {
    const be = await open(true);
    try {
      for (const n of [1, 5, 256, 2560, 6912]) {
        const T = 1 + rng.int(3);
        const x = randomF32(T * n, 3);
        const w = randomF32(n);
        const want = new Float32Array(T * n);
        ref.rmsNorm(x, T, n, 1e-5, w, want);
        const gx = onGpu(be, x);
        const out = be.allocF32(T * n);
        const gw = be.createVector(w);
        be.rmsNorm(gx, T, n, 1e-5, gw, out);
        const got = (await be.read(out)).slice();
        be.rmsNorm(gx, T, n, 1e-5, gw, gx);
        const inplace = await be.read(gx);
        for (let i = 0; i < want.length; i++) {
          // squares summed exactly in fixed point (ggml: in double), correctly rounded mean, sqrt and 1/x
          assert.ok(ulps(got[i]!, want[i]!) <= (exactFloat ? 0 : 4), `n=${n} [${i}] ${got[i]} vs ${want[i]}`);
          assert.ok(Object.is(inplace[i], got[i]), `in place n=${n} [${i}]`);
        }
      }
    } finally {
      be.dispose();
    }
  });

  test('webgpu: RoPE (neox and norm), gated activations, add and scale equal the reference', { skip }, async () => {
    const be = await open(true);
    try {
      for (const style of ['neox', 'norm'] as const) {
        for (const [T, nHead, headDim, nRot] of [[1, 3, 8, 8], [5, 2, 16, 12], [3, 4, 128, 128]] as const) {
          const x = randomF32(T * nHead * headDim);
          const p = { T, nHead, headDim, nRot, style, table: ropeTable(7, T, nRot, 10000, undefined) };
          const want = x.slice();
          ref.rope(want, p);
          const g = be.allocF32(x.length + 5);
          g.set(x, 5);
          be.upload(g);
          be.rope(g.subarray(5), p);
          const got = await be.read(g.subarray(5));
          for (let i = 0; i < x.length; i++) assert.ok(ulps(got[i]!, want[i]!) <= (exactFloat ? 0 : 4), `${style} [${i}] ${got[i]} vs ${want[i]}`);
        }
      }
      const n = 1003;
      const a = randomF32(n, 4);
      const b = randomF32(n, 2);
      for (const op of ['relu2', 'silu', 'add', 'scale'] as const) {
        const want = a.slice();
        const ga = onGpu(be, a);
        const gb = onGpu(be, b);
        if (op === 'add') [ref.add(want, b, n), be.add(ga, gb, n)];
        else if (op === 'scale') [ref.scale(want, n, 0.3), be.scale(ga, n, 0.3)];
        else [ref.gatedAct(want, b, n, op), be.gatedAct(ga, gb, n, op)];
        const got = await be.read(ga);
        if (op === 'silu') for (let i = 0; i < n; i++) assert.ok(ulps(got[i]!, want[i]!) <= (exactFloat ? 0 : 4), `silu [${i}] ${got[i]} vs ${want[i]}`);
        else same(got, want, op);
      }
    } finally {
      be.dispose();
    }
  });

  test('webgpu: KV store + causal GQA attention (f16 and f32 caches, prompt and decode) equals the reference', { skip }, async () => {
    const be = await open(true);
    try {
      for (const type of ['f16', 'f32'] as const) {
        for (const [nHead, nHeadKv, headDim] of [[4, 2, 16], [3, 1, 7], [20, 5, 128]] as const) {
          const width = nHeadKv * headDim;
          const kvR = ref.createKv(1, nHeadKv, headDim, 64, { k: type, v: type });
          const kvG = be.createKv(1, nHeadKv, headDim, 64, { k: type, v: type });
          let pos0 = 0;
          for (const T of [5, 1, 1, 3, 1]) {
            const q = randomF32(T * nHead * headDim);
            const k = randomF32(T * width);
            const v = randomF32(T * width);
            kvR.reserve(pos0 + T);
            kvG.reserve(pos0 + T);
            const p = { T, nHead, nHeadKv, headDim, pos0, scale: Math.fround(1 / Math.sqrt(headDim)), kv: { k: type, v: type } };
            ref.kvStore(kvR.layers[0]!, k, v, T, pos0);
            const want = new Float32Array(T * nHead * headDim);
            ref.attention(q, kvR.layers[0]!, want, p);
            be.kvStore(kvG.layers[0]!, onGpu(be, k), onGpu(be, v), T, pos0);
            const out = be.allocF32(want.length);
            be.attention(onGpu(be, q), kvG.layers[0]!, out, p);
            // softmax sums exact in fixed point (ggml: double), dots in order, the shared expf
            const what = `${type} [${nHead}/${nHeadKv}x${headDim}] pos0=${pos0} T=${T}`;
            if (exactFloat) same(await be.read(out), want, what);
            else close(await be.read(out), want, 1e-5, what);
            pos0 += T;
          }
          kvG.free();
        }
      }
    } finally {
      be.dispose();
    }
  });
}

test('backend selection: webgpu on any adapter, auto only on a hardware GPU, a typed error without WebGPU', async () => {
  const fake = (info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }) => ({ info }) as unknown as GPUAdapter;
  assert.equal(isHardwareAdapter(fake({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' })), true);
  assert.equal(isHardwareAdapter(fake({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver' })), false);
  assert.equal(isHardwareAdapter(fake({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })), false);
  assert.equal(isHardwareAdapter(fake({ vendor: 'intel', isFallbackAdapter: true })), false);
  await assert.rejects(createBackend('webgpu'), (e) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && /npm install webgpu/.test(e.message));
  assert.match((await createBackend('auto')).name, /^wasm/, 'no GPU object: WASM');
  if ('skip' in probe) return;
  const gpu = await createBackend('webgpu', { gpu: probe.gpu });
  assert.match(gpu.name, /^webgpu/);
  gpu.dispose();
  const auto = await createBackend('auto', { gpu: probe.gpu });
  assert.match(auto.name, probe.hardware ? /^webgpu/ : /^wasm/);
  auto.dispose();
  assert.match((await createBackend('cpu', { gpu: probe.gpu })).name, /^wasm/);
});

test('webgpu: topK reads back the k largest logits per row (ties to the lower id)', { skip }, async () => {
  const be = await createWebGpuBackend({ gpu: (probe as { gpu: GPU }).gpu });
  try {
    for (const [rows, nVocab] of [[1, 7], [3, 1003], [2, 128256]] as const) {
      const x = randomF32(rows * nVocab);
      for (let i = 0; i < x.length; i += 97) x[i] = 2.5; // ties
      x[x.length - 1] = NaN;
      const g = onGpu(be, x);
      for (const k of [1, 5, 16].filter((k) => k <= nVocab)) {
        const got = await be.topK(g, rows, nVocab, k);
        for (let r = 0; r < rows; r++) {
          const ids = Array.from({ length: nVocab }, (_, i) => i).filter((i) => !Number.isNaN(x[r * nVocab + i]));
          ids.sort((a, b) => x[r * nVocab + b]! - x[r * nVocab + a]! || a - b);
          assert.deepEqual(Array.from(got.ids.subarray(r * k, (r + 1) * k)), ids.slice(0, k), `rows ${rows} x ${nVocab} k=${k} row ${r}`);
          assert.deepEqual(Array.from(got.values.subarray(r * k, (r + 1) * k)), ids.slice(0, k).map((i) => x[r * nVocab + i]!));
        }
      }
    }
    await assert.rejects(be.topK(be.allocF32(8), 1, 8, 17), (e) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT');
  } finally {
    be.dispose();
  }
});

test('the self-check auto runs on a hardware GPU passes on this adapter and names an op that computes wrong', { skip }, async () => {
  const { selfCheck } = await import('../../../src/kernels/webgpu/selfcheck.js');
  assert.equal(await selfCheck(ref), undefined);
  const be = await createBackend('webgpu', { gpu: (probe as { gpu: GPU }).gpu });
  try {
    assert.equal(await selfCheck(be), undefined);
    // a driver that gets the attention softmax slightly wrong
    const broken = Object.create(be) as typeof be;
    broken.attention = (q, layer, out, p) => be.attention(q, layer, out, { ...p, scale: p.scale * 1.01 });
    assert.match((await selfCheck(broken)) ?? '', /^attention \(prompt\): relative error/);
    const wrongMatmul = Object.create(be) as typeof be;
    wrongMatmul.matmulTernary = (w, xq, y) => {
      be.matmulTernary(w, xq, y);
      be.scale(y, 1, 2);
    };
    assert.match((await selfCheck(wrongMatmul)) ?? '', /^ternary matmul: output 0 is/);
  } finally {
    be.dispose();
  }
});
