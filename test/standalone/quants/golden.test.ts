// Hand-computed byte vectors for every tensor type, checked against the layouts of bitnet-spec §4.5
// (I2_S 4.5.1, TQ1_0 4.5.4, TQ2_0 4.5.5, F16/BF16/Q8_0/Q6_K 4.5.6). They guard against codecs that are
// self-consistent but disagree with the files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf16Codec,
  f16Codec,
  f32Codec,
  i2_sCodec,
  i2sByteSize,
  q6_KCodec,
  q8_0Codec,
  q4_0Codec,
  tq1_0Codec,
  tq2_0Codec,
} from '../../../src/formats/quants/index.js';

function bytes(...v: number[]): Uint8Array {
  return new Uint8Array(v);
}

test('I2_S: group 0 in bits 7..6, code = value + 1, f32 scale at n/4, zero padding', () => {
  const v = new Int8Array(128);
  v[0] = 1; // byte 0 bits 7..6 = 0b10
  v[32] = -1; // byte 0 bits 5..4 = 0b00
  v[64] = 0; // byte 0 bits 3..2 = 0b01
  v[96] = 1; // byte 0 bits 1..0 = 0b10
  v[1] = -1; // byte 1 = 00 01 01 01
  v[127] = 1; // byte 31 = 01 01 01 10
  const blob = i2_sCodec.encodeTernary(v, 0.5);
  assert.equal(blob.length, 64);
  assert.equal(i2sByteSize(128), 64);
  assert.equal(blob[0], 0b10_00_01_10);
  assert.equal(blob[1], 0b00_01_01_01);
  for (let p = 2; p < 31; p++) assert.equal(blob[p], 0x55, `byte ${p}`);
  assert.equal(blob[31], 0b01_01_01_10);
  assert.deepEqual([...blob.subarray(32, 36)], [0x00, 0x00, 0x00, 0x3f]); // 0.5f LE
  assert.deepEqual([...blob.subarray(36)], new Array(28).fill(0));

  const out = new Float32Array(128);
  i2_sCodec.dequantize(blob, 128, out);
  assert.equal(out[0], 0.5);
  assert.equal(out[32], -0.5);
  assert.equal(out[1], -0.5);
  assert.equal(out[127], 0.5);
  assert.equal(out[2], 0);
});

test('I2_S: second block starts at byte 32; code 3 decodes to 0', () => {
  const blob = new Uint8Array(256 / 4 + 32).fill(0x55);
  blob[32] = 0b11_10_00_01; // elements 128, 160, 192, 224
  new DataView(blob.buffer).setFloat32(64, 2, true);
  const { values, scales, scaleBlock } = i2_sCodec.decodeTernary(blob, 256);
  assert.deepEqual([values[128], values[160], values[192], values[224]], [0, 1, -1, 0]);
  assert.deepEqual([...scales], [2]);
  assert.equal(scaleBlock, 256);
  const out = new Float32Array(256);
  i2_sCodec.dequantize(blob, 256, out);
  assert.deepEqual([out[128], out[160], out[192], out[224], out[0]], [0, 2, -2, 0, 0]);
});

test('TQ2_0: element 32l + m of each 128-chunk in bits 2l+1..2l of byte m, f16 d at byte 64', () => {
  const v = new Int8Array(256);
  v[0] = 1; // byte 0 bits 1..0 = 0b10
  v[32] = -1; // byte 0 bits 3..2 = 0b00
  v[96] = 1; // byte 0 bits 7..6 = 0b10
  v[128] = -1; // byte 32 bits 1..0 = 0b00
  v[255] = 1; // 128 + 96 + 31: byte 63 bits 7..6 = 0b10
  const blk = tq2_0Codec.encodeTernary(v, 0.5);
  assert.equal(blk.length, 66);
  assert.equal(blk[0], 0b10_01_00_10);
  assert.equal(blk[32], 0b01_01_01_00);
  assert.equal(blk[63], 0b10_01_01_01);
  for (const p of [1, 31, 33, 62]) assert.equal(blk[p], 0x55);
  assert.deepEqual([...blk.subarray(64)], [0x00, 0x38]); // f16 0.5

  const out = new Float32Array(256);
  tq2_0Codec.dequantize(blk, 256, out);
  assert.deepEqual([out[0], out[32], out[64], out[96], out[128], out[255], out[1]], [0.5, -0.5, 0, 0.5, -0.5, 0.5, 0]);
});

test('TQ2_0: code 3 dequantizes to 2d as ggml does, but is rejected by decodeTernary', () => {
  const blk = new Uint8Array(66).fill(0x55);
  blk[5] = 0x57; // element 5 has code 3
  blk[64] = 0x00;
  blk[65] = 0x3c; // d = 1
  const out = new Float32Array(256);
  tq2_0Codec.dequantize(blk, 256, out);
  assert.equal(out[5], 2);
  assert.throws(
    () => tq2_0Codec.decodeTernary(blk, 256),
    (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'CORRUPT' && /code 3/.test(e.message),
  );
});

test('TQ1_0: base-3 bytes, most significant trit first, stored as ceil(v*256/243); qh trits shifted by 3', () => {
  const v = new Int8Array(256);
  // qs[0] holds elements 0, 32, 64, 96, 128 -> trits 2,0,1,2,0 -> 177 -> ceil(177*256/243) = 187
  v[0] = 1;
  v[32] = -1;
  v[96] = 1;
  v[128] = -1;
  // qs[32] holds elements 160, 176, 192, 208, 224 -> trits 2,1,1,1,1 -> 202 -> 213
  v[160] = 1;
  // qh[0] holds elements 240, 244, 248, 252 -> trits 0,1,1,2 -> 14, *3 = 42 -> 45
  v[240] = -1;
  v[252] = 1;
  const blk = tq1_0Codec.encodeTernary(v, 0.5);
  assert.equal(blk.length, 54);
  const want = new Array<number>(54).fill(128); // all-zero byte: trits 1,1,1,1,1 = 121 -> 128
  want[0] = 187;
  want[32] = 213;
  want[48] = 45;
  want[49] = want[50] = want[51] = 127; // 1,1,1,1 -> 40*3 = 120 -> 127
  want[52] = 0x00;
  want[53] = 0x38;
  assert.deepEqual([...blk], want);

  const out = new Float32Array(256);
  tq1_0Codec.dequantize(blk, 256, out);
  const nz = [...out].map((x, i) => [i, x] as const).filter(([, x]) => x !== 0);
  assert.deepEqual(nz, [[0, 0.5], [32, -0.5], [96, 0.5], [128, -0.5], [160, 0.5], [240, -0.5], [252, 0.5]]);
});

test('Q8_0: { f16 d; i8 qs[32] }, d = amax/127, roundf ties away from zero', () => {
  const x = new Float32Array(32);
  x.set([127, -127, 0.5, -0.5, 1.5, 2.5, -2.5, 3.49]);
  const blk = q8_0Codec.quantize(x); // amax 127 -> d = 1
  assert.equal(blk.length, 34);
  assert.deepEqual([...blk.subarray(0, 10)], [0x00, 0x3c, 0x7f, 0x81, 0x01, 0xff, 0x02, 0x03, 0xfd, 0x03]);
  assert.deepEqual([...blk.subarray(10)], new Array(24).fill(0));

  const src = new Uint8Array(34);
  src[0] = 0x00;
  src[1] = 0x38; // d = 0.5
  src[2] = 0x80; // -128
  src[33] = 0x05;
  const out = new Float32Array(32);
  q8_0Codec.dequantize(src, 32, out);
  assert.equal(out[0], -64);
  assert.equal(out[31], 2.5);
  assert.equal(out[1], 0);
});

test('Q4_0: { f16 d; u8 qs[16] }, d = (largest-|x| element) / -8, element j low nibble, j+16 high, stored q+8', () => {
  const x = new Float32Array(32);
  x.set([-16, 2, -2, 3, 1, 0.99]); // max = -16 -> d = 2, id = 0.5
  x[16] = 16; // +16 * 0.5 + 8.5 = 16.5 -> 16, clamped to 15
  x[17] = -5; // -2.5 + 8.5 = 6
  x[31] = 1.01; // 0.505 + 8.5 = 9.005 -> 9
  const blk = q4_0Codec.quantize(x);
  assert.equal(blk.length, 18);
  assert.deepEqual([...blk.subarray(0, 2)], [0x00, 0x40]); // f16 2.0
  // byte j = (q_j) | (q_{j+16} << 4): q = trunc(x / 2 + 8.5)
  assert.deepEqual([...blk.subarray(2)], [0xf0, 0x69, 0x87, 0x8a, 0x89, ...new Array(10).fill(0x88), 0x98]);
  const out = new Float32Array(32);
  q4_0Codec.dequantize(blk, 32, out);
  assert.deepEqual([...out.subarray(0, 6)], [-16, 2, -2, 4, 2, 0]);
  assert.equal(out[16], 14);
  assert.equal(out[17], -4);
  // a block of zeros: d = 0 / -8 = -0 (f16 0x8000, as the C code stores it), every nibble 8
  assert.deepEqual([...q4_0Codec.quantize(new Float32Array(32))], [0x00, 0x80, ...new Array(16).fill(0x88)]);
});

test('Q6_K: ql[128] qh[64] scales[16] d, each 128-half as spec 4.5.6', () => {
  const blk = new Uint8Array(210);
  for (let s = 0; s < 16; s++) blk[192 + s] = s + 1;
  blk[192 + 15] = 0xff; // scale 15 = -1
  blk[208] = 0x00;
  blk[209] = 0x3c; // d = 1
  blk[0] = 0x5a; // ql[0]: low 10 (y0), high 5 (y64)
  blk[32] = 0xc3; // ql[32]: low 3 (y32), high 12 (y96)
  blk[128] = 0b11_10_01_00; // qh[0]: y0 +0, y32 +16, y64 +32, y96 +48
  blk[64] = 0x0f; // second half ql[0]: y128 low 15
  blk[128 + 32] = 0x03; // second half qh[0]: y128 +48
  const y = new Float32Array(256);
  q6_KCodec.dequantize(blk, 256, y);
  assert.equal(y[0], 1 * (10 - 32)); // sc[0]
  assert.equal(y[32], 3 * (3 + 16 - 32)); // sc[2]
  assert.equal(y[64], 5 * (5 + 32 - 32)); // sc[4]
  assert.equal(y[96], 7 * (12 + 48 - 32)); // sc[6]
  assert.equal(y[17], 2 * -32); // l = 17 -> is = 1
  assert.equal(y[128], 9 * (15 + 48 - 32)); // sc[8]
  assert.equal(y[255], -1 * -32); // l = 31 of q4 in half 1 -> sc[8 + 1 + 6]
});

test('F16 / BF16 / F32: little-endian bit patterns, round to nearest even', () => {
  const x = new Float32Array([1, -2, 65504, 1 / 3, 2 ** -24, Infinity, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
  assert.deepEqual(
    [...f16Codec.quantize(x)],
    [0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x55, 0x35, 0x01, 0x00, 0x00, 0x7c, 0x00, 0x3c, 0x02, 0x3c],
  );
  const b = new Float32Array([1, 3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, Math.PI]);
  assert.deepEqual([...bf16Codec.quantize(b)], [0x80, 0x3f, 0x40, 0x40, 0x80, 0x3f, 0x82, 0x3f, 0x49, 0x40]);
  assert.deepEqual([...f32Codec.quantize(new Float32Array([1, -0.5]))], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xbf]);

  const out = new Float32Array(3);
  f16Codec.dequantize(bytes(0x00, 0x3c, 0x01, 0x80, 0xff, 0x7b), 3, out);
  assert.deepEqual([...out], [1, -(2 ** -24), 65504]);
  bf16Codec.dequantize(bytes(0x80, 0x3f, 0x49, 0x40, 0x80, 0xff), 3, out);
  assert.deepEqual([...out], [1, Math.fround(3.140625), -Infinity]);
  f32Codec.dequantize(bytes(0, 0, 0x80, 0x3f, 0, 0, 0, 0xbf, 0, 0, 0x80, 0x7f), 3, out);
  assert.deepEqual([...out], [1, -0.5, Infinity]);
});

test('dequantize honours dstOffset and unaligned sources', () => {
  const raw = new Uint8Array(1 + 8);
  raw.set([0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40], 0); // at byte 1: f32 1, f32 2
  const out = new Float32Array(5).fill(-1);
  f32Codec.dequantize(raw.subarray(1), 2, out, 2);
  assert.deepEqual([...out], [-1, -1, 1, 2, -1]);

  const h = new Uint8Array([9, 0x00, 0x3c, 0x00, 0xc0]);
  f16Codec.dequantize(h.subarray(1), 2, out, 3);
  assert.deepEqual([...out], [-1, -1, 1, 1, -2]);
  bf16Codec.dequantize(new Uint8Array([9, 0x80, 0x3f]).subarray(1), 1, out, 0);
  assert.equal(out[0], 1);

  const v = new Int8Array(128).map((_, i) => (i % 3) - 1);
  const blob = i2_sCodec.encodeTernary(v, 0.25);
  const shifted = new Uint8Array(blob.length + 3);
  shifted.set(blob, 3);
  const plain = i2_sCodec.decodeTernary(shifted.subarray(3), 128);
  assert.deepEqual(plain.values, v);
  assert.deepEqual([...plain.scales], [0.25]);
});
