// KV cache memory on every backend (reference, WASM, WebGPU on SwiftShader when available): bytes() grows
// with the positions reserved, never with the context size, and is back to 0 after free(); capacityBytes()
// is the whole context. WASM reserves the context's address range up front: its untouched pages cost no RSS.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend } from '../../../src/kernels/backend.js';
import { refBackend } from '../../../src/kernels/ref/index.js';
import { createWasmBackend } from '../../../src/kernels/wasm/backend.js';
import { createWebGpuBackend } from '../../../src/kernels/webgpu/backend.js';
import { KvCache } from '../../../src/model/kv-cache.js';
import { testContext, testGpu } from './webgpu-gpu.js';

const probe = await testGpu();

function growthCases(be: Backend): void {
  // [type, layers, kv heads, head size (16: the WASM backend's reference-layout fallback), context]
  for (const [type, nLayer, nHeadKv, headDim, nCtx] of [
    ['f16', 3, 2, 32, 5000],
    ['f32', 2, 1, 64, 3001],
    ['f16', 2, 2, 16, 2999],
  ] as const) {
    const what = `${be.name} ${type} headDim ${headDim} context ${nCtx}`;
    const kv = new KvCache(be, nLayer, nHeadKv, headDim, nCtx, { k: type, v: type });
    const per = 2 * nLayer * nHeadKv * headDim * (type === 'f16' ? 2 : 4);
    assert.equal(kv.bytesPerPosition, per, what);
    assert.equal(kv.capacityBytes(), nCtx * per, what);
    assert.equal(kv.bytes(), 0, `${what}: nothing reserved yet`);
    let last = 0;
    for (const n of [1, 7, 9, 100, 130, 131, 700]) {
      kv.reserve(n);
      const b = kv.bytes();
      // at least the positions asked for; at most what geometric growth (x2, 64 first) or 8-position blocks give
      assert.ok(b >= n * per, `${what}: ${b} bytes hold ${n} positions`);
      assert.ok(b <= Math.max(2 * n, 64) * per, `${what}: ${b} bytes for ${n} positions`);
      assert.ok(b >= last, `${what}: never shrinks`);
      last = b;
    }
    kv.truncate(3);
    kv.reserve(5);
    assert.equal(kv.bytes(), last, `${what}: truncation keeps the memory (prefix reuse)`);
    assert.ok(kv.bytes() < kv.capacityBytes() / 2, `${what}: not the whole context`);
    kv.reserve(nCtx);
    assert.equal(kv.bytes() >= kv.capacityBytes() && kv.bytes() <= kv.capacityBytes() + 8 * per, true, `${what}: full`);
    assert.throws(() => kv.reserve(nCtx + 1), /context size/);
    kv.free();
    assert.equal(kv.bytes(), 0, `${what}: freed`);
  }
}

test('ref: KV bytes grow with the positions reserved', () => {
  growthCases(refBackend);
});

test('wasm: KV bytes grow with the positions reserved; a 503 MB context costs RSS only where written', async () => {
  const be = await createWasmBackend({ kernels: 'simd', threads: 1 });
  try {
    growthCases(be);
    // 2B4T's K/V width at 24 layers x 4096 positions in f32: 503 MB of address range, 1/64 of it written
    const rss0 = process.memoryUsage().rss;
    const kv = new KvCache(be, 24, 5, 128, 4096, { k: 'f32', v: 'f32' });
    const width = 5 * 128;
    kv.reserve(64);
    for (const l of kv.layers) be.kvStore(l, be.allocF32(64 * width).fill(1), be.allocF32(64 * width).fill(2), 64, 0);
    const grown = process.memoryUsage().rss - rss0;
    assert.equal(kv.bytes(), 64 * kv.bytesPerPosition);
    assert.ok(kv.capacityBytes() > 500e6);
    assert.ok(grown < 64e6, `RSS grew ${(grown / 1e6).toFixed(1)} MB for ${(kv.bytes() / 1e6).toFixed(1)} MB of K/V in a ${(kv.capacityBytes() / 1e6).toFixed(0)} MB cache`);
    kv.free();
  } finally {
    be.dispose();
  }
});

test('webgpu: KV bytes grow with the positions reserved', { skip: 'skip' in probe ? probe.skip : false }, async () => {
  const gpu = (probe as { gpu: GPU }).gpu;
  const be = await createWebGpuBackend({ gpu, context: await testContext(gpu) });
  try {
    growthCases(be);
  } finally {
    be.dispose();
  }
});
