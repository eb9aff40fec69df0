// KvStorage.shift (context shift) on every backend. The reference: kept positions untouched, moved V rows
// bit for bit, moved K rows equal to the keys computed at their new positions within the cache type's
// rounding (neox and norm RoPE, partial rotation). WASM (blocked K layout, the inf/NaN flag, the reference
// layout for head sizes it leaves to it) and WebGPU (SwiftShader): a shifted cache attends as the shifted
// reference cache bit for bit, before and after more positions are stored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, KvShiftRope, KvType, KvTypes, RopeParams } from '../../../src/kernels/backend.js';
import { ropeTable } from '../../../src/kernels/math.js';
import { refBackend } from '../../../src/kernels/ref/index.js';
import { ropeRef } from '../../../src/kernels/ref/ops.js';
import { createWasmBackend } from '../../../src/kernels/wasm/backend.js';
import { createWebGpuBackend } from '../../../src/kernels/webgpu/backend.js';
import { halfTableF32 } from '../../../src/util/f16.js';
import { Rng } from '../../../src/util/rng.js';
import { testContext, testGpu } from './webgpu-gpu.js';

const rng = new Rng(21);
const probe = await testGpu();
const BASE = 10000;

/** 'f16' (K and V) or 'q8_0/f16' (K/V) as KvTypes. */
const typesOf = (t: string): KvTypes => {
  const [k, v = k] = t.split('/') as [KvType, KvType?];
  return { k, v: v! };
};

const shiftRope = (discard: number, nRot: number, style: 'neox' | 'norm'): KvShiftRope => ({ nRot, style, table: ropeTable(-discard, 1, nRot, BASE, undefined) });

/** Raw keys rotated to positions pos0.. as the forward pass does: [T, nHeadKv * headDim]. */
function keysAt(raw: Float32Array, T: number, pos0: number, nHeadKv: number, headDim: number, nRot: number, style: 'neox' | 'norm'): Float32Array {
  const k = raw.slice();
  const p: RopeParams = { T, nHead: nHeadKv, headDim, nRot, style, table: ropeTable(pos0, T, nRot, BASE, undefined) };
  ropeRef(k, p);
  return k;
}

function randn(n: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal() * scale;
  return x;
}

test('ref: a shift keeps [0, keep), moves V exactly and leaves K rotated to the new positions', () => {
  // [type, nHeadKv, headDim, nRot, style, n, keep, discard]
  const cases: Array<['f16' | 'f32', number, number, number, 'neox' | 'norm', number, number, number]> = [
    ['f32', 3, 16, 16, 'neox', 21, 1, 10],
    ['f16', 3, 16, 16, 'neox', 21, 1, 10],
    ['f32', 1, 24, 8, 'norm', 13, 0, 6],
    ['f16', 2, 32, 16, 'neox', 40, 5, 17],
    ['f16', 2, 32, 32, 'norm', 9, 4, 0],
  ];
  for (const [type, nHeadKv, headDim, nRot, style, n, keep, discard] of cases) {
    const what = `${type} ${nHeadKv}x${headDim} nRot ${nRot} ${style} n ${n} keep ${keep} discard ${discard}`;
    const width = nHeadKv * headDim;
    const raw = randn(n * width);
    const v = randn(n * width);
    const kv = refBackend.createKv(1, nHeadKv, headDim, 64, typesOf(type));
    kv.reserve(n);
    refBackend.kvStore(kv.layers[0]!, keysAt(raw, n, 0, nHeadKv, headDim, nRot, style), v, n, 0);
    const l = kv.layers[0] as { k: Float32Array | Uint16Array; v: Float32Array | Uint16Array };
    const before = { k: l.k.slice(), v: l.v.slice() };
    kv.shift(keep, discard, n, shiftRope(discard, nRot, style));
    const f = type === 'f16' ? (a: Float32Array | Uint16Array, i: number) => halfTableF32()[a[i]!]! : (a: Float32Array | Uint16Array, i: number) => a[i]!;
    for (let i = 0; i < keep * width; i++) {
      assert.equal(l.k[i], before.k[i], `${what}: kept K ${i}`);
      assert.equal(l.v[i], before.v[i], `${what}: kept V ${i}`);
    }
    // the moved tokens' keys as a fresh evaluation at their new positions computes them
    const m = n - keep - discard;
    const want = keysAt(raw.subarray((keep + discard) * width), m, keep, nHeadKv, headDim, nRot, style);
    const tol = type === 'f16' ? 2e-3 : 2e-5; // f16: two roundings of |k| <~ 5; f32: the rotations' own rounding
    for (let j = 0; j < m * width; j++) {
      const at = keep * width + j;
      assert.equal(l.v[at], before.v[(keep + discard) * width + j], `${what}: V element ${j} moved as it was`);
      const d = j % headDim;
      if (d >= nRot) assert.equal(l.k[at], before.k[(keep + discard) * width + j], `${what}: an unrotated dim moves as it was`);
      const err = Math.abs(f(l.k, at) - want[j]!);
      assert.ok(err <= tol * Math.max(1, Math.abs(want[j]!)), `${what}: K element ${j} is ${f(l.k, at)}, the key at its new position is ${want[j]}`);
    }
    if (discard === 0) assert.deepEqual(l.k, before.k, `${what}: discarding nothing rotates nothing`);
    assert.throws(() => kv.shift(keep, n - keep + 1, n, shiftRope(n, nRot, style)), /cannot shift/);
  }
});

test('ref: with YaRN scaling the shift rotates by the scaled angles at magnitude 1 (keys keep their one magnitude factor)', () => {
  const yarn = { freqScale: 0.25, extFactor: 1, attnFactor: 1, betaFast: 32, betaSlow: 1, origCtx: 32 };
  const [nHeadKv, headDim, nRot, n, keep, discard] = [2, 32, 32, 30, 3, 13];
  const width = nHeadKv * headDim;
  const raw = randn(n * width);
  const at = (pos0: number, T: number, x: Float32Array): Float32Array => {
    const k = x.slice();
    ropeRef(k, { T, nHead: nHeadKv, headDim, nRot, style: 'neox', table: ropeTable(pos0, T, nRot, BASE, undefined, yarn) });
    return k;
  };
  const kv = refBackend.createKv(1, nHeadKv, headDim, 64, typesOf('f32'));
  kv.reserve(n);
  refBackend.kvStore(kv.layers[0]!, at(0, n, raw), new Float32Array(n * width), n, 0);
  const rotate = (rotationOnly: boolean): KvShiftRope => ({ nRot, style: 'neox', table: ropeTable(-discard, 1, nRot, BASE, undefined, yarn, rotationOnly) });
  const pure = rotate(true);
  assert.notDeepEqual(pure.table, rotate(false).table, 'YaRN scales the magnitude of the position table');
  kv.shift(keep, discard, n, pure);
  const k = (kv.layers[0] as { k: Float32Array }).k;
  const m = n - keep - discard;
  const want = at(keep, m, raw.subarray((keep + discard) * width));
  for (let j = 0; j < m * width; j++) {
    const err = Math.abs(k[keep * width + j]! - want[j]!);
    assert.ok(err <= 2e-5 * Math.max(1, Math.abs(want[j]!)), `K element ${j}: ${k[keep * width + j]} vs fresh ${want[j]}`);
  }
});

/** The shift case table on one backend: each case's attention against the reference, bit for bit. */
async function shiftCases(be: Backend, exact: boolean, quantized = true): Promise<void> {
  // [type, nHead, nHeadKv, headDim, nRot, style, nCtx, n, keep, discard, an overflowing pair at]
  const cases: Array<[string, number, number, number, number, 'neox' | 'norm', number, number, number, number, number?]> = [
    ['f16', 6, 2, 32, 32, 'neox', 40, 37, 1, 18],
    ['f32', 6, 2, 32, 32, 'neox', 40, 37, 1, 18],
    ['f16', 3, 3, 64, 32, 'norm', 30, 23, 3, 10], // odd kv heads, partial rotation
    ['f16', 5, 1, 32, 32, 'norm', 17, 17, 0, 8], // a full cache, nothing kept
    ['f32', 4, 2, 64, 64, 'neox', 64, 61, 7, 27],
    ['f16', 4, 2, 16, 16, 'neox', 20, 19, 2, 8], // a head size WASM leaves to the reference layout
    ['f16', 4, 2, 32, 32, 'neox', 24, 21, 1, 5, 12], // a rotation that overflows f16 (WASM: the inf flag)
    ['q8_0', 6, 2, 32, 32, 'neox', 40, 37, 1, 18], // quantized K: dequantized, rotated, requantized
    ['q4_0', 5, 1, 64, 32, 'norm', 30, 23, 3, 10],
    ['q8_0/f16', 4, 2, 32, 32, 'neox', 24, 21, 2, 9],
    ['q4_0/q8_0', 8, 2, 32, 32, 'neox', 33, 33, 0, 16],
    ['f16/q4_0', 4, 2, 32, 32, 'neox', 24, 21, 1, 5], // a float K beside a quantized V (WASM: float K rows)
    ['f32/q8_0', 5, 5, 64, 64, 'norm', 20, 19, 2, 6],
  ];
  for (const [type, nHead, nHeadKv, headDim, nRot, style, nCtx, n, keep, discard, bigAt] of cases) {
    if (bigAt !== undefined && !exact) continue;
    if (type.startsWith('q') && !quantized) continue;
    const what = `${be.name} ${type} heads ${nHead}/${nHeadKv}x${headDim} nRot ${nRot} ${style} n ${n} keep ${keep} discard ${discard}${bigAt !== undefined ? ' overflow' : ''}`;
    const width = nHeadKv * headDim;
    const kvR = refBackend.createKv(2, nHeadKv, headDim, nCtx, typesOf(type));
    const kvB = be.createKv(2, nHeadKv, headDim, nCtx, typesOf(type));
    kvR.reserve(n);
    kvB.reserve(n);
    const store = (pos0: number, T: number, big?: number): void => {
      for (let il = 0; il < 2; il++) {
        const k = keysAt(randn(T * width), T, pos0, nHeadKv, headDim, nRot, style);
        const v = randn(T * width);
        if (big !== undefined && big >= pos0 && big < pos0 + T) {
          // (60000, -60000) rotated by -5 radians in the first pair: 60000 (cos 5 - sin 5) > 65504
          k[(big - pos0) * width] = 60000;
          k[(big - pos0) * width + (style === 'neox' ? nRot / 2 : 1)] = -60000;
        }
        refBackend.kvStore(kvR.layers[il]!, k, v, T, pos0);
        const kb = be.allocF32(k.length);
        const vb = be.allocF32(v.length);
        kb.set(k);
        vb.set(v);
        be.upload(kb);
        be.upload(vb);
        be.kvStore(kvB.layers[il]!, kb, vb, T, pos0);
        be.free(kb);
        be.free(vb);
      }
    };
    store(0, n, bigAt);
    const rope = shiftRope(discard, nRot, style);
    kvR.shift(keep, discard, n, rope);
    kvB.shift(keep, discard, n, rope);
    const check = async (T: number, pos0: number): Promise<void> => {
      const q = randn(T * nHead * headDim);
      const qb = be.allocF32(q.length);
      qb.set(q);
      be.upload(qb);
      for (let il = 0; il < 2; il++) {
        const p = { T, nHead, nHeadKv, headDim, pos0, scale: Math.fround(1 / Math.sqrt(headDim)), kv: typesOf(type) };
        const want = new Float32Array(T * nHead * headDim);
        refBackend.attention(q, kvR.layers[il]!, want, p);
        const out = be.allocF32(want.length);
        be.attention(qb, kvB.layers[il]!, out, p);
        const got = (await be.read(out)).slice();
        for (let i = 0; i < want.length; i++) {
          const ok = exact ? Object.is(got[i], want[i]) : Math.abs(got[i]! - want[i]!) <= 1e-3 * Math.max(1, Math.abs(want[i]!));
          if (!ok) assert.fail(`${what}: layer ${il} T=${T} pos0=${pos0}: element ${i} is ${got[i]}, the reference gives ${want[i]}`);
        }
        be.free(out);
      }
      be.free(qb);
    };
    const m = n - discard;
    await check(1, m - 1);
    await check(m, 0);
    // the shifted caches go on: new positions stored after the moved ones
    const more = 3;
    kvR.reserve(m + more);
    kvB.reserve(m + more);
    store(m, more);
    await check(more, m);
    await check(1, m + more - 1);
    assert.throws(() => kvB.shift(0, m + more + 1, m + more, rope), /cannot shift/);
    kvR.free();
    kvB.free();
  }
}

for (const threads of [1, 2]) {
  test(`wasm (${threads} thread${threads > 1 ? 's' : ''}): a shifted KV cache attends as the shifted reference cache`, async () => {
    const be = await createWasmBackend({ kernels: 'simd', threads });
    try {
      await shiftCases(be, true);
    } finally {
      be.dispose();
    }
  });
}

test('webgpu: a shifted KV cache attends as the shifted reference cache', { skip: 'skip' in probe ? probe.skip : false }, async () => {
  const { gpu, hardware } = probe as { gpu: GPU; hardware: boolean };
  const be = await createWebGpuBackend({ gpu, context: await testContext(gpu) });
  try {
    // hardware GPUs may fuse the rotation's multiply-adds: within a tolerance there, exact on SwiftShader
    await shiftCases(be, !hardware);
  } finally {
    be.dispose();
  }
});
