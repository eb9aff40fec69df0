// WebGPU KV caches of every K/V type pair (f32, f16, q8_0, q4_0) against the quantized-KV reference
// (kvq-ref.ts), with the packed int8 dot and its unpacking fallback: the KV store writes ggml's q8_0/q4_0
// blocks byte for byte (ties, zero blocks, the signed max of q4_0 included), and attention (GQA ratios 1, 4
// and 5, lengths not a multiple of 32, prompt and decode steps, growth past the first reservation, a
// copied cache) equals the reference bit for bit on a software adapter (SwiftShader: integer block sums are
// exact and float32 ops round one by one). A hardware GPU may fuse multiply-adds (in the float dots, in
// q4_0's x * id + 8.5): there stored codes may differ by one and attention is checked within 1e-3 of the
// largest output. Skips with a reason when no adapter can be had.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import type { KvType } from '../../../src/kernels/backend.js';
import { refBackend as ref } from '../../../src/kernels/ref/index.js';
import { createWebGpuBackend, type WebGpuBackend } from '../../../src/kernels/webgpu/backend.js';
import type { GpuKvLayer } from '../../../src/kernels/webgpu/kv.js';
import { Rng } from '../../../src/util/rng.js';
import { attentionKvRef, blockBytes, quantizeQ4, quantizeQ8, RefKvTensor } from './kvq-ref.js';
import { testContext, testGpu } from './webgpu-gpu.js';

const probe = await testGpu();
const skip = 'skip' in probe ? probe.skip : false;
const exact = !('skip' in probe) && !probe.hardware;
const rng = new Rng(2121);

function randomF32(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

function onGpu(be: WebGpuBackend, x: Float32Array): Float32Array {
  const b = be.allocF32(x.length);
  b.set(x);
  be.upload(b);
  return b;
}

function check(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, what);
  let amax = 0;
  for (const v of want) amax = Math.max(amax, Math.abs(v));
  for (let i = 0; i < got.length; i++) {
    if (exact ? !Object.is(got[i], want[i]) : !(Math.abs(got[i]! - want[i]!) <= 1e-3 * amax)) assert.fail(`${what}: [${i}] ${got[i]} vs ${want[i]}`);
  }
}

const open = async (packedDot: boolean) => {
  const gpu = (probe as { gpu: GPU }).gpu;
  // the fallback runs with small bindings: attention in blocks of queries
  return createWebGpuBackend({ gpu, context: await testContext(gpu), packedDot, ...(packedDot ? {} : { maxBindingBytes: 2600 }) });
};

/** ggml's block bytes of rows [0, rows) of a quantized cache tensor, read back from the GPU's row layout. */
async function gpuBlocks(be: WebGpuBackend, buf: GPUBuffer, type: 'q8_0' | 'q4_0', width: number, rows: number): Promise<Uint8Array[][]> {
  const nb = width / 32;
  const qsBytes = type === 'q8_0' ? width : width / 2;
  const rowBytes = qsBytes + 4 * Math.ceil(nb / 2);
  const all = new Uint8Array(await be.rec.readBack(buf, 0, rows * rowBytes));
  const per = type === 'q8_0' ? 32 : 16;
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: nb }, (_, b) => {
      const out = new Uint8Array(2 + per);
      out.set(all.subarray(r * rowBytes + qsBytes + 2 * b, r * rowBytes + qsBytes + 2 * b + 2));
      out.set(all.subarray(r * rowBytes + per * b, r * rowBytes + per * (b + 1)), 2);
      return out;
    }),
  );
}

test('kvq reference: its f32/f16 attention is the reference backend\'s, its quantizers ggml\'s on hand cases', () => {
  // q8_0: d = 127 / 127 = 1, roundf ties away from zero
  const x8 = new Float32Array(32);
  x8.set([127, 2.5, -2.5, 0.5, -0.5, 1.49, -126.5]);
  assert.deepEqual(Array.from(quantizeQ8(x8, 0).q.subarray(0, 8)), [127, 3, -3, 1, -1, 1, -127, 0]);
  assert.equal(quantizeQ8(new Float32Array(32), 0).d, 0);
  // q4_0: max keeps its sign (the first of equal |x|), d = max / -8, codes min(15, trunc(x / d + 8.5)) - 8
  const x4 = new Float32Array(32);
  x4.set([8, -8, 0.49, -0.5, 7.4, 3]);
  const b4 = quantizeQ4(x4, 0);
  assert.equal(b4.d, 0xbc00); // -1.0 in f16
  assert.deepEqual(Array.from(b4.q.subarray(0, 7)), [-8, 7, 0, 1, -7, -3, 0]);
  assert.deepEqual(Array.from(blockBytes('q4_0', b4).subarray(0, 4)), [0x00, 0xbc, 0x80, 0x8f]);
  assert.equal(quantizeQ4(x4.map((x) => -x), 0).d, 0x3c00); // a negative max: d > 0
  for (const type of ['f32', 'f16'] as const) {
    const [nHead, nHeadKv, headDim] = [6, 2, 32];
    const width = nHeadKv * headDim;
    const kvR = ref.createKv(1, nHeadKv, headDim, 16, { k: type, v: type });
    const K = new RefKvTensor(type, width, 16);
    const V = new RefKvTensor(type, width, 16);
    let pos0 = 0;
    for (const T of [5, 1, 3]) {
      const [q, k, v] = [randomF32(T * nHead * headDim), randomF32(T * width), randomF32(T * width)];
      kvR.reserve(pos0 + T);
      ref.kvStore(kvR.layers[0]!, k, v, T, pos0);
      K.store(k, T, pos0);
      V.store(v, T, pos0);
      const p = { T, nHead, nHeadKv, headDim, pos0, scale: 0.125 };
      const want = new Float32Array(T * nHead * headDim);
      ref.attention(q, kvR.layers[0]!, want, { ...p, kv: { k: type, v: type } });
      const got = new Float32Array(want.length);
      attentionKvRef(q, K, V, got, p);
      assert.deepEqual(got, want, `${type} T=${T}`);
      pos0 += T;
    }
  }
});

for (const packedDot of [true, false]) {
  const tag = packedDot ? 'dot4I8Packed' : 'unpacked dot';

  test(`webgpu (${tag}): the KV store writes ggml's q8_0 / q4_0 blocks`, { skip }, async () => {
    const be = await open(packedDot);
    try {
      for (const [nHeadKv, headDim] of [[1, 32], [3, 64], [2, 128]] as const) {
        const width = nHeadKv * headDim;
        const T = 7;
        const k = randomF32(T * width, 3);
        const v = randomF32(T * width, 0.02);
        k.fill(0, 0, 32); // a zero block: d = 0, id = 0
        k.set([127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5], width); // q8_0 ties (d = 1)
        v.set([-8, 8, 0.49, -0.5, 7.4, 8, -7.99, 0.5], width); // q4_0: the first of equal |x|, codes at bounds
        for (let j = 0; j < 32; j++) v[2 * width + j] = rng.normal() * 1e-4; // f16 subnormal scales
        for (const [kType, vType] of [['q8_0', 'q4_0'], ['q4_0', 'q8_0']] as const) {
          const kv = be.createKv(1, nHeadKv, headDim, 16, { k: kType, v: vType });
          kv.reserve(T + 2);
          const l = kv.layers[0] as GpuKvLayer;
          // two stores: rows 2.. then 0..1 (rows on either side keep their blocks)
          be.kvStore(l, onGpu(be, k.subarray(2 * width)), onGpu(be, v.subarray(2 * width)), T - 2, 2);
          be.kvStore(l, onGpu(be, k), onGpu(be, v), 2, 0);
          for (const [buf, type, x] of [[l.k, kType, k], [l.v, vType, v]] as const) {
            const got = await gpuBlocks(be, buf, type, width, T);
            const quant = type === 'q8_0' ? quantizeQ8 : quantizeQ4;
            let diffs = 0;
            for (let r = 0; r < T; r++) {
              for (let b = 0; b < width / 32; b++) {
                const want = blockBytes(type, quant(x, r * width + 32 * b));
                const g = got[r]![b]!;
                assert.deepEqual(g.subarray(0, 2), want.subarray(0, 2), `${type} [${nHeadKv}x${headDim}] row ${r} block ${b}: d`);
                if (exact) assert.deepEqual(g, want, `${type} [${nHeadKv}x${headDim}] row ${r} block ${b}`);
                else for (let i = 2; i < g.length; i++) diffs += g[i] === want[i] ? 0 : 1;
              }
            }
            assert.ok(diffs <= 2, `${type}: ${diffs} code bytes differ`);
          }
          kv.free();
        }
      }
    } finally {
      be.dispose();
    }
  });

  test(`webgpu (${tag}): attention over q8_0 / q4_0 / f16 / f32 K and V equals the reference`, { skip }, async () => {
    const be = await open(packedDot);
    try {
      const pairs: Array<[KvType, KvType]> = [['f16', 'q8_0'], ['q8_0', 'q8_0'], ['q4_0', 'q4_0'], ['q8_0', 'f16'], ['q4_0', 'f32'], ['f32', 'q4_0'], ['q4_0', 'q8_0']];
      const shapes = [[2, 2, 32], [8, 2, 64], [5, 1, 96], [10, 2, 128], [4, 1, 256]] as const;
      for (const [pi, [kType, vType]] of pairs.entries()) {
        const [nHead, nHeadKv, headDim] = shapes[pi % shapes.length]!;
        const width = nHeadKv * headDim;
        const nCtx = 90;
        const kv = be.createKv(1, nHeadKv, headDim, nCtx, { k: kType, v: vType });
        const K = new RefKvTensor(kType, width, nCtx);
        const V = new RefKvTensor(vType, width, nCtx);
        let pos0 = 0;
        // growth: 64 positions first, 90 from position 64 on (the stored blocks are copied)
        for (const T of pi % 2 ? [5, 1, 1, 3, 1] : [37, 1, 30, 1, 3]) {
          const q = randomF32(T * nHead * headDim);
          const k = randomF32(T * width, 2);
          const v = randomF32(T * width);
          kv.reserve(pos0 + T);
          K.store(k, T, pos0);
          V.store(v, T, pos0);
          const p = { T, nHead, nHeadKv, headDim, pos0, scale: Math.fround(1 / Math.sqrt(headDim)) };
          const want = new Float32Array(T * nHead * headDim);
          attentionKvRef(q, K, V, want, p);
          be.kvStore(kv.layers[0]!, onGpu(be, k), onGpu(be, v), T, pos0);
          const out = be.allocF32(want.length);
          be.attention(onGpu(be, q), kv.layers[0]!, out, { ...p, kv: { k: kType, v: vType } });
          check(await be.read(out), want, `${kType}/${vType} [${nHead}/${nHeadKv}x${headDim}] pos0=${pos0} T=${T}`);
          pos0 += T;
        }
        kv.free();
      }
    } finally {
      be.dispose();
    }
  });
}

test('webgpu: quantized KV caches copy (prefix sharing), report ggml\'s bytes, and refuse what they cannot hold', { skip }, async () => {
  const be = await open(true);
  try {
    for (const [kType, vType, nHeadKv, headDim] of [['q8_0', 'q4_0', 2, 64], ['q4_0', 'q8_0', 1, 32], ['q8_0', 'f16', 3, 32]] as const) {
      const [nHead, width] = [2 * nHeadKv, nHeadKv * headDim];
      const types = { k: kType, v: vType };
      const src = be.createKv(2, nHeadKv, headDim, 40, types);
      const dst = be.createKv(2, nHeadKv, headDim, 24, types);
      // bytes: ggml's row sizes (34 / 18 bytes a block), plus 2 when a row has an odd number of blocks
      const rowBytes = (t: KvType) => (t === 'f16' ? 2 * width : (width / 32) * (t === 'q8_0' ? 34 : 18) + ((width / 32) % 2) * 2);
      assert.equal(src.bytes(), 0);
      src.reserve(13);
      assert.equal(src.bytes(), 2 * 40 * (rowBytes(kType) + rowBytes(vType)), `${kType}/${vType} bytes`);
      dst.reserve(8);
      for (const l of dst.layers) be.kvStore(l, onGpu(be, randomF32(8 * width)), onGpu(be, randomF32(8 * width)), 8, 0);
      for (const l of src.layers) be.kvStore(l, onGpu(be, randomF32(13 * width)), onGpu(be, randomF32(13 * width)), 13, 0);
      dst.reserve(11);
      dst.copyFrom(src, 11);
      src.reserve(14);
      dst.reserve(14);
      for (let il = 0; il < 2; il++) {
        const [k, v] = [onGpu(be, randomF32(3 * width)), onGpu(be, randomF32(3 * width))];
        be.kvStore(src.layers[il]!, k, v, 3, 11);
        be.kvStore(dst.layers[il]!, k, v, 3, 11);
        const q = onGpu(be, randomF32(14 * nHead * headDim));
        const p = { T: 14, nHead, nHeadKv, headDim, pos0: 0, scale: 0.125, kv: types };
        const [a, b] = [be.allocF32(14 * nHead * headDim), be.allocF32(14 * nHead * headDim)];
        be.attention(q, src.layers[il]!, a, p);
        be.attention(q, dst.layers[il]!, b, p);
        assert.deepEqual((await be.read(b)).slice(), (await be.read(a)).slice(), `${kType}/${vType} layer ${il}: the copy attends as its source`);
        assert.throws(() => be.attention(q, src.layers[il]!, a, { ...p, kv: { k: vType, v: kType } }), (e) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT');
      }
      assert.throws(() => dst.copyFrom(be.createKv(2, nHeadKv, headDim, 24, { k: vType, v: kType }), 1), /different shapes or types/);
      src.free();
      dst.free();
    }
    for (const t of ['q8_0', 'q4_0'] as const) {
      assert.throws(() => be.createKv(1, 2, 48, 8, { k: 'f16', v: t }), (e) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && /multiple of 32/.test(e.message));
    }
    assert.throws(() => be.createKv(1, 2, 32, 8, { k: 'q5_0' as KvType, v: 'f16' }), (e) => e instanceof BitnetError && /unknown KV cache type/.test(e.message));
  } finally {
    be.dispose();
  }
});
