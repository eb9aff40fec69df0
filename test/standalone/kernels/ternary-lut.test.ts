// The table-lookup ternary kernels' plain twin (kernels/ref/ternary-lut.ts) against the reference integer dot
// and epilogue, and the WASM builds' repacking and tables (asm/lut.ts) against the twin, byte for byte.
// The WASM LUT matmul itself is compared with the reference backend in backends.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { i2_sCodec } from '../../../src/formats/quants/index.js';
import { createTernaryRef, matmulTernaryRef } from '../../../src/kernels/ref/ternary.js';
import { lutDotRef, lutRepackRef, lutTablesRef, splitNibble } from '../../../src/kernels/ref/ternary-lut.js';
import { Heap } from '../../../src/kernels/wasm/heap.js';
import { compileKernels, type KernelExports } from '../../../src/kernels/wasm/module.js';
import { Rng } from '../../../src/util/rng.js';

const rng = new Rng(7);
const relaxed = Number(process.versions.node.split('.')[0]) >= 22;

function activations(K: number, kind: number): Int8Array {
  if (kind === 0) return new Int8Array(K).fill(-128);
  if (kind === 1) return new Int8Array(K).fill(127);
  if (kind === 2) return new Int8Array(K).map((_, i) => (i & 1 ? 127 : -128));
  return new Int8Array(K).map(() => rng.int(256) - 128);
}

function weights(n: number, kind: number): Int8Array {
  if (kind === 0) return new Int8Array(n).fill(-1);
  if (kind === 1) return new Int8Array(n).fill(1);
  return new Int8Array(n).map(() => rng.int(3) - 1);
}

test('signed nibbles split every int8 exactly', () => {
  for (let q = -128; q < 128; q++) {
    const { h, l } = splitNibble(q);
    assert.equal(16 * h + l, q);
    assert.ok(l >= -8 && l <= 7 && h >= -8 && h <= 8, `q ${q}: h ${h} l ${l}`);
  }
});

test('LUT twin: repack, tables and lookups give the reference integer dot and epilogue', () => {
  for (const rows of [1, 15, 17, 33, 100]) {
    for (const K of [128, 256, 640, 2560]) {
      const wKind = rng.int(4);
      const values = weights(rows * K, wKind);
      const alpha = Math.fround(0.25 + rng.next());
      const codes = i2_sCodec.encodeTernary(values, alpha).subarray(0, (rows * K) / 4);
      const tiles = lutRepackRef(codes, rows, K);
      assert.equal(tiles.length, Math.ceil(rows / 16) * 4 * K);
      const ref = createTernaryRef({ kind: 'i2s', bytes: i2_sCodec.encodeTernary(values, alpha) }, rows, K);
      const q = activations(K, rng.int(5));
      let sum = 0;
      for (const v of q) sum += v;
      const s = Math.fround(127 / 3.5);
      const want = new Float32Array(rows);
      matmulTernaryRef(ref, { q, scale: new Float32Array([s]), sum: new Int32Array([sum]), T: 1, K }, want);
      const d = lutDotRef(tiles, rows, K, lutTablesRef(q, K));
      for (let r = 0; r < rows; r++) {
        let D = 0;
        for (let c = 0; c < K; c++) D += values[r * K + c]! * q[c]!;
        assert.equal(d[r], D, `[${rows}x${K}] row ${r}`);
        assert.ok(Object.is(Math.fround(Math.fround(d[r]! / s) * alpha), want[r]), `[${rows}x${K}] row ${r} epilogue`);
      }
    }
  }
});

for (const variant of ['simd', ...(relaxed ? ['relaxed' as const] : [])] as const) {
  test(`wasm-${variant}: LUT repacking and tables are the twin's, byte for byte`, () => {
    const { module } = compileKernels(variant);
    const heap = new Heap(1 << 20);
    const k = new WebAssembly.Instance(module, { env: { memory: heap.memory } }).exports as unknown as KernelExports;
    const scratch = heap.alloc(256);
    for (const [rows, K, T] of [[1, 128, 1], [17, 256, 3], [40, 640, 2], [33, 2560, 1]] as const) {
      const codes = i2_sCodec.encodeTernary(weights(rows * K, 3), 1).subarray(0, (rows * K) / 4);
      const src = heap.alloc(codes.length);
      heap.u8(src, codes.length).set(codes);
      const want = lutRepackRef(codes, rows, K);
      const dst = heap.alloc(want.length);
      k.lut_repack(src, dst, rows, K, scratch, 0, Math.ceil(rows / 16));
      assert.deepEqual(heap.u8(dst, want.length), want, `repack [${rows}x${K}]`);
      const q = new Int8Array(T * K);
      for (let t = 0; t < T; t++) q.set(activations(K, (t + rows) % 4), t * K);
      const qp = heap.alloc(q.length);
      heap.i8(qp, q.length).set(q);
      const tables = heap.alloc(T * K * 16);
      k.lut_tables(qp, K, tables, scratch, 0, (T * K) / 128);
      for (let t = 0; t < T; t++) {
        assert.deepEqual(heap.i8(tables + t * K * 16, K * 16), lutTablesRef(q.subarray(t * K, (t + 1) * K), K), `tables [${K}] token ${t}`);
      }
      for (const p of [tables, qp, dst, src]) heap.release(p);
    }
  });
}
