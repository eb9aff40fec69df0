// Quantized KV caches (q8_0 / q4_0, llama.cpp's -ctk / -ctv): the reference cache stores ggml's blocks byte for
// byte, the WASM cache stores the same bytes, and the WASM attention over every pair of types equals the
// reference bit for bit (head sizes 32-128, GQA groups 1/2/4/5, prompts and single tokens, lengths that are not
// multiples of 8 or 32, several 256-position score chunks, query blocks, both kernel builds, 1 and 2 threads);
// the quantized attention stays within error bounds of the f32 one; bad types are typed errors naming the flag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BitnetError } from '../../../src/errors.js';
import { q4_0Codec, q8_0Codec } from '../../../src/formats/quants/index.js';
import { checkKvTypes, kvBytesPerValue, type KvType, type KvTypes } from '../../../src/kernels/backend.js';
import { kvRowBytes } from '../../../src/kernels/ref/ops.js';
import { refBackend } from '../../../src/kernels/ref/index.js';
import { createWasmBackend, type WasmBackend } from '../../../src/kernels/wasm/backend.js';
import { Rng } from '../../../src/util/rng.js';

const rng = new Rng(2121);
const relaxed = Number(process.versions.node.split('.')[0]) >= 22;
const CONFIGS: Array<{ kernels: 'simd' | 'relaxed'; threads: number }> = [
  { kernels: 'simd', threads: 1 },
  { kernels: 'simd', threads: 2 },
  ...(relaxed ? [{ kernels: 'relaxed' as const, threads: 1 }, { kernels: 'relaxed' as const, threads: 2 }] : []),
];

function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: element ${i} is ${a[i]}, the reference says ${b[i]}`);
}

/** Normal values with a few exact rounding ties (multiples of 1/2 and 1/4) and an all-zero block. */
function values(n: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.next() < 0.1 ? Math.round(rng.normal() * 8) / 4 : rng.normal() * scale;
  if (n >= 64) x.fill(0, 32, 64);
  return x;
}

/** The bytes of a layer's K or V storage, positions [0, n). */
function refRows(layer: object, side: 'k' | 'v', t: KvType, width: number, n: number): Uint8Array {
  const a = (layer as Record<string, ArrayBufferView>)[side]!;
  return new Uint8Array(a.buffer, a.byteOffset, n * kvRowBytes(t, width));
}

test('ref: q8_0 / q4_0 rows are ggml blocks (quantize_row_*_ref of each row)', () => {
  const [nHeadKv, headDim, T] = [2, 64, 3];
  const width = nHeadKv * headDim;
  const kv = refBackend.createKv(1, nHeadKv, headDim, 8, { k: 'q8_0', v: 'q4_0' });
  kv.reserve(T);
  const k = values(T * width);
  const v = values(T * width);
  refBackend.kvStore(kv.layers[0]!, k, v, T, 0);
  assert.deepEqual(refRows(kv.layers[0]!, 'k', 'q8_0', width, T), q8_0Codec.quantize(k));
  assert.deepEqual(refRows(kv.layers[0]!, 'v', 'q4_0', width, T), q4_0Codec.quantize(v));
  assert.equal(kvRowBytes('q8_0', width), (width / 32) * 34);
  assert.equal(kvRowBytes('q4_0', width), (width / 32) * 18);
  assert.equal(kv.bytes(), (8 * width * (34 + 18)) / 32, 'room for the whole 8-position context');
  assert.deepEqual([kvBytesPerValue('f32'), kvBytesPerValue('f16'), kvBytesPerValue('q8_0'), kvBytesPerValue('q4_0')], [4, 2, 34 / 32, 18 / 32]);
});

test('bad KV types: unknown names and quantized types on head sizes that are not multiples of 32 name the flag', async () => {
  const code = (f: () => unknown, re: RegExp): void => {
    assert.throws(f, (e: unknown) => e instanceof BitnetError && e.code === 'INVALID_ARGUMENT' && re.test(e.message));
  };
  code(() => checkKvTypes({ k: 'q3_x' as KvType, v: 'f16' }, 64), /^cache-type-k: unknown KV cache type 'q3_x'/);
  code(() => checkKvTypes({ k: 'f16', v: 'q5_1' as KvType }, 64), /^cache-type-v: unknown KV cache type/);
  code(() => refBackend.createKv(1, 2, 16, 8, { k: 'q8_0', v: 'f16' }), /^cache-type-k: q8_0 needs a head size that is a multiple of 32, this model's is 16/);
  code(() => refBackend.createKv(1, 2, 48, 8, { k: 'f16', v: 'q4_0' }), /^cache-type-v: q4_0 needs a head size/);
  const be = await createWasmBackend({ kernels: 'simd' });
  try {
    code(() => be.createKv(1, 2, 16, 8, { k: 'q4_0', v: 'q4_0' }), /^cache-type-k: q4_0 needs/);
  } finally {
    be.dispose();
  }
});

/** [K/V types, head dim, query heads, kv heads, context, token counts per step] */
type Case = [KvTypes, number, number, number, number, number[]];
const CASES: Case[] = [
  [{ k: 'q8_0', v: 'q8_0' }, 64, 8, 2, 40, [5, 1, 1, 7, 1]],
  [{ k: 'q4_0', v: 'q4_0' }, 64, 8, 2, 40, [5, 1, 1, 7, 1]],
  [{ k: 'q8_0', v: 'f16' }, 128, 8, 2, 40, [5, 1, 1, 7, 1]], // f16 V: P rounded to f16 in decode
  [{ k: 'q4_0', v: 'f32' }, 32, 6, 2, 20, [3, 1, 1]], // groups of 3
  [{ k: 'q8_0', v: 'q4_0' }, 32, 5, 1, 20, [2, 1, 1]], // a group of 5
  [{ k: 'q4_0', v: 'q8_0' }, 96, 4, 4, 20, [9, 1]], // no GQA
  [{ k: 'q8_0', v: 'q8_0' }, 32, 8, 2, 600, [300, 1, 250, 1, 1]], // several 256-position chunks of scores
  [{ k: 'q4_0', v: 'f16' }, 32, 8, 2, 80, [37, 1, 33, 1]],
  [{ k: 'f16', v: 'q8_0' }, 32, 4, 2, 20, [5, 1, 2]], // float K rows beside a quantized V
  [{ k: 'f32', v: 'q4_0' }, 64, 5, 1, 40, [33, 1, 1]],
  [{ k: 'f16', v: 'q4_0' }, 128, 8, 2, 300, [270, 1, 1]], // more than a 256-position chunk
  [{ k: 'f16', v: 'q8_0' }, 32, 3, 3, 20, [4, 1]],
];

async function attentionCases(be: WasmBackend): Promise<void> {
  for (const [types, headDim, nHead, nHeadKv, nCtx, steps] of CASES) {
    const width = nHeadKv * headDim;
    const kvR = refBackend.createKv(1, nHeadKv, headDim, nCtx, types);
    const kvB = be.createKv(1, nHeadKv, headDim, nCtx, types);
    let pos = 0;
    for (const T of steps) {
      kvR.reserve(pos + T);
      kvB.reserve(pos + T);
      const k = values(T * width);
      const v = values(T * width, 0.5);
      const q = values(T * nHead * headDim, 2);
      const [kb, vb, qb] = [k, v, q].map((x) => {
        const b = be.allocF32(x.length);
        b.set(x);
        return b;
      }) as [Float32Array, Float32Array, Float32Array];
      refBackend.kvStore(kvR.layers[0]!, k, v, T, pos);
      be.kvStore(kvB.layers[0]!, kb, vb, T, pos);
      const what = `${types.k}/${types.v} headDim ${headDim} heads ${nHead}/${nHeadKv} T=${T} pos=${pos}`;
      {
        // the WASM cache's rows are the reference's bytes
        const heap = (be as unknown as { heap: { u8(p: number, n: number): Uint8Array } }).heap;
        for (const side of ['k', 'v'] as const) {
          const n = (pos + T) * kvRowBytes(types[side], width);
          same(heap.u8((kvB.layers[0] as Record<string, number>)[side]!, n), refRows(kvR.layers[0]!, side, types[side], width, pos + T), `${what}: ${side} bytes`);
        }
      }
      const p = { T, nHead, nHeadKv, headDim, pos0: pos, scale: Math.fround(1 / Math.sqrt(headDim)), kv: types };
      const want = new Float32Array(T * nHead * headDim);
      refBackend.attention(q, kvR.layers[0]!, want, p);
      const out = be.allocF32(want.length);
      be.attention(qb, kvB.layers[0]!, out, p);
      same(out, want, what);
      for (const b of [kb, vb, qb, out]) be.free(b);
      pos += T;
    }
    kvB.free();
  }
}

for (const cfg of CONFIGS) {
  test(`wasm-${cfg.kernels} x${cfg.threads}: quantized KV store and attention equal the reference bit for bit`, async () => {
    const be = await createWasmBackend({ ...cfg, parallelMinWork: 0 });
    try {
      await attentionCases(be);
    } finally {
      be.dispose();
    }
  });
}

test('wasm: query blocks of a small score budget, and inf / NaN in K and V, as the reference', async () => {
  const be = await createWasmBackend({ kernels: relaxed ? 'relaxed' : 'simd', threads: 2, parallelMinWork: 0, attentionBlockBytes: 2048 });
  try {
    for (const types of [{ k: 'q8_0', v: 'q4_0' }, { k: 'q4_0', v: 'q8_0' }, { k: 'q8_0', v: 'f16' }] as const) {
      const [headDim, nHead, nHeadKv, T] = [64, 4, 2, 13];
      const width = nHeadKv * headDim;
      const kvR = refBackend.createKv(1, nHeadKv, headDim, 32, types);
      const kvB = be.createKv(1, nHeadKv, headDim, 32, types);
      kvR.reserve(T + 1);
      const k = values(T * width);
      const v = values(T * width);
      const q = values(T * nHead * headDim);
      const kb = be.allocF32(k.length);
      const vb = be.allocF32(v.length);
      const qb = be.allocF32(q.length);
      const out = be.allocF32(q.length);
      kb.set(k);
      vb.set(v);
      qb.set(q);
      refBackend.kvStore(kvR.layers[0]!, k, v, T, 0);
      be.kvStore(kvB.layers[0]!, kb, vb, T, 0);
      const p = { T, nHead, nHeadKv, headDim, pos0: 0, scale: 0.125, kv: types };
      const want = new Float32Array(q.length);
      refBackend.attention(q, kvR.layers[0]!, want, p);
      be.attention(qb, kvB.layers[0]!, out, p);
      same(out, want, `${types.k}/${types.v} query blocks`);
      // one more position whose K holds an inf and V a NaN: the blocks hold what ggml's quantizers write (an f16 V:
      // the exact widening from then on)
      const k1 = values(width);
      const v1 = values(width);
      k1[5] = Infinity;
      v1[40] = NaN;
      kb.set(k1);
      vb.set(v1);
      refBackend.kvStore(kvR.layers[0]!, k1, v1, 1, T);
      be.kvStore(kvB.layers[0]!, kb, vb, 1, T);
      const heap = (be as unknown as { heap: { u8(p: number, n: number): Uint8Array } }).heap;
      for (const side of ['k', 'v'] as const) {
        const n = (T + 1) * kvRowBytes(types[side], width);
        same(heap.u8((kvB.layers[0] as Record<string, number>)[side]!, n), refRows(kvR.layers[0]!, side, types[side], width, T + 1), `${side} bytes with inf / NaN`);
      }
      const p1 = { ...p, T: 1, pos0: T };
      refBackend.attention(q.subarray(0, nHead * headDim), kvR.layers[0]!, want.subarray(0, nHead * headDim), p1);
      be.attention(qb.subarray(0, nHead * headDim), kvB.layers[0]!, out.subarray(0, nHead * headDim), p1);
      same(out.subarray(0, nHead * headDim), want.subarray(0, nHead * headDim), `${types.k}/${types.v} with inf / NaN`);
      for (const b of [kb, vb, qb, out]) be.free(b);
      kvB.free();
    }
  } finally {
    be.dispose();
  }
});

test('quantized caches: attention within error bounds of the f32 cache (q8_0 tight, q4_0 looser)', () => {
  const [headDim, nHead, nHeadKv, T] = [128, 8, 2, 48];
  const width = nHeadKv * headDim;
  const k = values(T * width);
  const v = values(T * width);
  const q = values(T * nHead * headDim);
  const run = (types: KvTypes): Float32Array => {
    const kv = refBackend.createKv(1, nHeadKv, headDim, T, types);
    kv.reserve(T);
    refBackend.kvStore(kv.layers[0]!, k, v, T, 0);
    const out = new Float32Array(q.length);
    refBackend.attention(q, kv.layers[0]!, out, { T, nHead, nHeadKv, headDim, pos0: 0, scale: Math.fround(1 / Math.sqrt(headDim)), kv: types });
    return out;
  };
  const exact = run({ k: 'f32', v: 'f32' });
  const rmsOf = (x: Float32Array): number => Math.sqrt(x.reduce((a, e) => a + e * e, 0) / x.length);
  const err = (types: KvTypes): number => rmsOf(run(types).map((e, i) => e - exact[i]!)) / rmsOf(exact);
  const f16 = err({ k: 'f16', v: 'f16' });
  const q8 = err({ k: 'q8_0', v: 'q8_0' });
  const q4 = err({ k: 'q4_0', v: 'q4_0' });
  assert.ok(f16 < 2e-3, `f16 ${f16}`);
  assert.ok(q8 < 2e-2 && q8 > f16, `q8_0 ${q8} (f16 ${f16})`);
  assert.ok(q4 < 0.2 && q4 > q8, `q4_0 ${q4} (q8_0 ${q8})`);
});
