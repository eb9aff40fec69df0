// KvStorage.copyFrom on every backend (reference, WASM with its blocked K layout and a reference-layout head
// size, WebGPU on SwiftShader when available): a cache that copied positions [0, n) of another, even one
// of another context size, gives the same attention bit for bit as the source, before and after both
// store more positions; f16 caches with an inf (the WASM exact-widening flag) included.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, KvType, KvTypes } from '../../../src/kernels/backend.js';
import { refBackend } from '../../../src/kernels/ref/index.js';
import { createWasmBackend } from '../../../src/kernels/wasm/backend.js';
import { createWebGpuBackend } from '../../../src/kernels/webgpu/backend.js';
import { Rng } from '../../../src/util/rng.js';
import { testContext, testGpu } from './webgpu-gpu.js';

const rng = new Rng(18);
const probe = await testGpu();

function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} is ${a[i]}, the source cache gives ${b[i]}`);
}

function buf(be: Backend, n: number, scale = 1): Float32Array {
  const b = be.allocF32(n);
  const host = new Float32Array(n);
  for (let i = 0; i < n; i++) host[i] = rng.normal() * scale;
  b.set(host);
  be.upload(b);
  return b;
}

async function copyCases(be: Backend, quantized = false): Promise<void> {
  // [types (K/V), headDim, nHead, nHeadKv, source nCtx, copy nCtx, positions stored before the copy, copied, inf at]
  type Case = [KvType | KvTypes, number, number, number, number, number, number, number, number?];
  const quantCases: Case[] = [
    ['q8_0', 32, 4, 2, 40, 64, 13, 13],
    [{ k: 'q4_0', v: 'q8_0' }, 64, 4, 1, 30, 20, 17, 9],
    [{ k: 'q8_0', v: 'f16' }, 32, 4, 2, 40, 40, 10, 10],
    [{ k: 'f16', v: 'q4_0' }, 32, 4, 2, 40, 40, 10, 10], // float K rows beside a quantized V
  ];
  const cases: Case[] = [
    ...(quantized ? quantCases : []),
    ['f16', 32, 4, 2, 40, 64, 13, 13],
    ['f16', 32, 4, 2, 64, 24, 20, 11], // a smaller copy, part of the source
    ['f32', 64, 2, 1, 30, 30, 9, 9],
    ['f16', 16, 4, 2, 20, 20, 7, 7], // a head size the WASM kernels leave to the reference layout
    ['f16', 32, 4, 2, 40, 40, 10, 10, 4], // an inf in K
  ];
  for (const [t, headDim, nHead, nHeadKv, srcCtx, dstCtx, stored, n, infAt] of cases) {
    const type = typeof t === 'string' ? { k: t, v: t } : t;
    const what = `${be.name} ${type.k}/${type.v} headDim ${headDim} ${srcCtx}->${dstCtx} copy ${n} of ${stored}`;
    const width = nHeadKv * headDim;
    const src = be.createKv(2, nHeadKv, headDim, srcCtx, type);
    const dst = be.createKv(2, nHeadKv, headDim, dstCtx, type);
    // the destination held other data before: the copy must replace it
    dst.reserve(8);
    for (const l of dst.layers) be.kvStore(l, buf(be, 8 * width), buf(be, 8 * width), 8, 0);
    src.reserve(stored);
    for (const l of src.layers) {
      const k = buf(be, stored * width);
      if (infAt !== undefined) {
        k[infAt * width + 1] = 1e6; // f16 overflow
        be.upload(k);
      }
      be.kvStore(l, k, buf(be, stored * width), stored, 0);
    }
    dst.reserve(n);
    dst.copyFrom(src, n);
    // both go on from position n with the same new tokens
    const more = 3;
    src.reserve(n + more);
    dst.reserve(n + more);
    for (let il = 0; il < 2; il++) {
      const k = buf(be, more * width);
      const v = buf(be, more * width);
      be.kvStore(src.layers[il]!, k, v, more, n);
      be.kvStore(dst.layers[il]!, k, v, more, n);
    }
    for (const [T, pos0] of [[1, n - 1], [n, 0], [more, n], [1, n + more - 1]] as const) {
      const q = buf(be, T * nHead * headDim);
      for (let il = 0; il < 2; il++) {
        const p = { T, nHead, nHeadKv, headDim, pos0, scale: 1 / Math.sqrt(headDim), kv: type };
        const a = be.allocF32(T * nHead * headDim);
        const b = be.allocF32(T * nHead * headDim);
        be.attention(q, src.layers[il]!, a, p);
        be.attention(q, dst.layers[il]!, b, p);
        same((await be.read(b)).slice(), (await be.read(a)).slice(), `${what}: layer ${il} T=${T} pos0=${pos0}`);
      }
    }
    assert.throws(() => dst.copyFrom(be.createKv(2, nHeadKv, headDim * 2, dstCtx, type), 1), /different shapes/);
    src.free();
    dst.free();
  }
}

test('ref: a copied KV cache attends as its source', async () => {
  await copyCases(refBackend, true);
});

test('wasm: a copied KV cache attends as its source (blocked K layout, inf flag)', async () => {
  const be = await createWasmBackend({ kernels: 'simd', threads: 2 });
  try {
    await copyCases(be, true);
  } finally {
    be.dispose();
  }
});

test('webgpu: a copied KV cache attends as its source', { skip: 'skip' in probe ? probe.skip : false }, async () => {
  const gpu = (probe as { gpu: GPU }).gpu;
  const be = await createWebGpuBackend({ gpu, context: await testContext(gpu) });
  try {
    await copyCases(be);
  } finally {
    be.dispose();
  }
});
