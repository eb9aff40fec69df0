// Bit-exactness against ggml's C reference: the expected bytes and hashes below were produced by compiling
// ggml-quants.c's quantize_row_{q6_K,q8_0,q4_0,tq1_0,tq2_0}_ref / dequantize_row_* (gcc -O2, x86-64, no FMA
// contraction; F16 via the RNE hardware conversion) on the inputs built here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { BlockCodec } from '../../../src/formats/quants/index.js';
import { f16Codec, q4_0Codec, q6_KCodec, q8_0Codec, tq1_0Codec, tq2_0Codec } from '../../../src/formats/quants/index.js';
import { Rng } from '../../../src/util/rng.js';

/** Inputs built from integer arithmetic and exact IEEE division only, so they are the same on every engine. */
function refInput(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let g = 0; g < n / 16; g++) {
    const u = rng.nextU32();
    const scale = 2 ** ((u % 24) - 12);
    const mode = (u >>> 8) % 4;
    for (let i = 0; i < 16; i++) {
      const v = rng.nextU32();
      let val: number;
      if (mode === 0) val = (((v % 200001) - 100000) / 30000) * scale; // generic values
      else if (mode === 1) val = (((v % 129) - 64) / 2) * scale; // many rounding ties
      else if (mode === 2) val = ((v % 3) - 1) * scale; // ternary
      else val = v % 5 === 0 ? (((v % 2001) - 1000) / 7) * scale : 0; // sparse
      x[g * 16 + i] = val;
    }
  }
  return x;
}

function sha256(b: Uint8Array | Float32Array): string {
  return createHash('sha256').update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest('hex');
}

const Q6_K_BLOCK =
  '41faa550fba6510cb7620db8631cc76212c87d13c87e13e99e30e59b30e68b31ea8530fba6510aa5500ba6510ca7520dca7f22c87d22c87d' +
  '12c87d12e89d30e6388dd2277cc1368bd2277cc1167bc01566b12c77c21b66b10c57a2fd4893ee58adf4499ee3388dd2277cc1368bd2277c' +
  'cf1a65b00b56a11c67b20b66b10c57a2342727e3d2d2de9d8d89487874372723edddd192828647777b38282cedddd1922d21627276b7878bc' +
  '8d8dc1d2d21627279b98888c4d7d71322226e6d7db9b8888075c03ce1e2f1f108f804fc0202010160a9';

test('Q6_K: one block equals quantize_row_q6_K_ref byte for byte', () => {
  const x = new Float32Array(256);
  for (let i = 0; i < 256; i++) x[i] = (((i * 7919) % 1000) - 500) / 3 / (1 << (i >> 5));
  assert.equal(Buffer.from(q6_KCodec.quantize(x)).toString('hex'), Q6_K_BLOCK);
});

const HASHES: [string, BlockCodec, string, string | undefined][] = [
  ['q6_K', q6_KCodec, 'ec719539064cd9b06fda81e9bc5ebd3371e4919d3ff0e95ef8325baf8ae24822', '8f2af3d424d626860ddbf7ec96032aa50aba42558c0c5328646b6687eae84eca'],
  ['q8_0', q8_0Codec, '70f4a912966fa400bf7500826a7a0b82c2eb4939957f1f187f7a2bebb9917979', '7479f5a607405e6b1d8073f5b27630a584a74cc8bcb64f27b3e4cd6462dd2f93'],
  ['q4_0', q4_0Codec, '6887eacbb87a949dc9babe2a10085f9e71a7c85a0e9a6ff3c28830da720d5565', 'ad0004588936a6b509bbfb79e2e9bedfb7e6ba2977e20bc0190fbd60aaf5828e'],
  ['tq1_0', tq1_0Codec, '1c4f8fe385b797926713580272ef1476c9a233a8d5457bdec132b2ec5c04cc30', '7040132f97da29cc7a1ddcefb3d0a0e6e5e7929548d3ac54f25a0821ee9bab9f'],
  ['tq2_0', tq2_0Codec, 'd0107e4b50bfb796fdebe2a2f54d29d3b0d159bd138f30ab4bb303c84a304e81', '7040132f97da29cc7a1ddcefb3d0a0e6e5e7929548d3ac54f25a0821ee9bab9f'],
  ['f16', f16Codec, '157be3f98aca1d7f9f253d19c102cf52ac3bb5a6d8b073e41f82a0b48cc6074f', undefined],
];

for (const [name, codec, quantHash, dequantHash] of HASHES) {
  test(`${name}: quantize and dequantize of 64 mixed blocks hash like ggml's reference`, () => {
    const x = refInput(2024, 256 * 64);
    const q = codec.quantize(x);
    assert.equal(sha256(q), quantHash);
    if (dequantHash !== undefined) {
      const y = new Float32Array(x.length);
      codec.dequantize(q, x.length, y);
      assert.equal(sha256(y), dequantHash);
    }
  });
}
