// Bad input to the codecs: element counts off the block grid, short sources, small destinations and
// non-ternary values all fail with a BitnetError whose message says what was expected.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitnetError } from '../../../src/errors.js';
import type { BitnetErrorCode } from '../../../src/errors.js';
import {
  bf16Codec,
  f16Codec,
  f32Codec,
  i2_sCodec,
  i2sByteSize,
  q6_KCodec,
  q8_0Codec,
  tq1_0Codec,
  tq2_0Codec,
} from '../../../src/formats/quants/index.js';

function throwsBitnet(fn: () => unknown, code: BitnetErrorCode, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BitnetError, `not a BitnetError: ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

test('n not a multiple of the block size -> INVALID_ARGUMENT', () => {
  const out = new Float32Array(1024);
  const src = new Uint8Array(4096);
  throwsBitnet(() => q8_0Codec.dequantize(src, 33, out), 'INVALID_ARGUMENT', /q8_0: element count 33 is not a multiple of the block size 32/);
  throwsBitnet(() => q6_KCodec.dequantize(src, 300, out), 'INVALID_ARGUMENT', /q6_K: element count 300 .* 256/);
  throwsBitnet(() => tq1_0Codec.decodeTernary(src, 100), 'INVALID_ARGUMENT', /tq1_0: element count 100/);
  throwsBitnet(() => tq2_0Codec.quantize(new Float32Array(255)), 'INVALID_ARGUMENT', /tq2_0: element count 255/);
  throwsBitnet(() => q6_KCodec.quantize(new Float32Array(100)), 'INVALID_ARGUMENT', /element count 100/);
  throwsBitnet(() => i2_sCodec.decodeTernary(src, 100), 'INVALID_ARGUMENT', /i2_s: element count 100 is not a positive multiple of 128/);
  throwsBitnet(() => i2_sCodec.quantize(new Float32Array(64)), 'INVALID_ARGUMENT', /multiple of 128/);
  throwsBitnet(() => i2sByteSize(130), 'INVALID_ARGUMENT', /130/);
  throwsBitnet(() => f16Codec.dequantize(src, 1.5, out), 'INVALID_ARGUMENT', /1\.5/);
});

test('src shorter than the data n elements need -> TRUNCATED with expected and actual bytes', () => {
  const out = new Float32Array(1024);
  throwsBitnet(() => q6_KCodec.dequantize(new Uint8Array(300), 512, out), 'TRUNCATED', /q6_K: 512 elements need 420 bytes, but only 300 bytes were given/);
  throwsBitnet(() => q8_0Codec.dequantize(new Uint8Array(67), 64, out), 'TRUNCATED', /need 68 bytes, but only 67/);
  throwsBitnet(() => tq1_0Codec.dequantize(new Uint8Array(53), 256, out), 'TRUNCATED', /need 54 bytes/);
  throwsBitnet(() => tq2_0Codec.decodeTernary(new Uint8Array(65), 256), 'TRUNCATED', /need 66 bytes/);
  throwsBitnet(() => f16Codec.dequantize(new Uint8Array(7), 4, out), 'TRUNCATED', /need 8 bytes, but only 7/);
  throwsBitnet(() => bf16Codec.dequantize(new Uint8Array(1), 1, out), 'TRUNCATED', /need 2 bytes/);
  throwsBitnet(() => f32Codec.dequantize(new Uint8Array(3), 1, out), 'TRUNCATED', /need 4 bytes/);
  // I2_S needs the whole blob: codes, scale and padding
  throwsBitnet(() => i2_sCodec.decodeTernary(new Uint8Array(256 / 4 + 31), 256), 'TRUNCATED', /i2_s: 256 elements need 96 bytes, but only 95/);
  throwsBitnet(() => i2_sCodec.dequantize(new Uint8Array(64), 256, out), 'TRUNCATED', /need 96 bytes/);
});

test('destination too small -> INVALID_ARGUMENT', () => {
  throwsBitnet(() => q8_0Codec.dequantize(new Uint8Array(34), 32, new Float32Array(31)), 'INVALID_ARGUMENT', /cannot take 32 elements at offset 0/);
  throwsBitnet(() => f16Codec.dequantize(new Uint8Array(4), 2, new Float32Array(4), 3), 'INVALID_ARGUMENT', /offset 3/);
  throwsBitnet(() => i2_sCodec.dequantize(new Uint8Array(64), 128, new Float32Array(100)), 'INVALID_ARGUMENT', /cannot take 128/);
});

test('encodeTernary rejects values outside {-1,0,1} and bad scales', () => {
  const v = new Int8Array(256);
  v[7] = 2;
  for (const codec of [tq1_0Codec, tq2_0Codec, i2_sCodec]) {
    throwsBitnet(() => codec.encodeTernary(v, 1), 'INVALID_ARGUMENT', /value 2 at index 7 is not in \{-1, 0, 1\}/);
    throwsBitnet(() => codec.encodeTernary(new Int8Array(256), -1), 'INVALID_ARGUMENT', /alpha must be finite and >= 0/);
    throwsBitnet(() => codec.encodeTernary(new Int8Array(256), NaN), 'INVALID_ARGUMENT', /alpha/);
  }
  throwsBitnet(() => tq2_0Codec.encodeTernary(new Int8Array(100), 1), 'INVALID_ARGUMENT', /element count 100/);
  throwsBitnet(() => tq1_0Codec.encodeTernary(new Int8Array(256), 70000), 'INVALID_ARGUMENT', /does not fit in an f16/);
});
