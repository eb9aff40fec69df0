// I2_S (bitnet.cpp fork type 36): whole-tensor ternary blob of n/4 + 32 bytes. 128-element blocks of 32 bytes,
// byte 32b+p holds elements 128b + 32g + p in bits 7-2g..6-2g (group 0 in bits 7..6), code = value + 1;
// one f32 scale at byte n/4, then 28 padding bytes. Matches FORK `dequantize_row_i2_s` and BN
// `quantize_i2_s` (x86 / ACT_PARALLEL layout; the ARM 64-element layout is not supported).

import type { BlockCodec, TernaryCodec, TernaryPlain } from './codec.js';
import { checkBytes, checkDst, checkTernaryInput, LITTLE_ENDIAN } from './codec.js';
import { BitnetError } from '../../errors.js';

const QK_I2_S = 128;
const BLOCK_BYTES = 32;

/** Bytes of an I2_S tensor of n elements: packed codes, f32 scale, padding to 32. */
export function i2sByteSize(n: number): number {
  checkI2sCount(n);
  return n / 4 + 32;
}

function checkI2sCount(n: number): void {
  if (!Number.isSafeInteger(n) || n <= 0 || n % QK_I2_S !== 0) {
    throw new BitnetError(
      'INVALID_ARGUMENT',
      `i2_s: element count ${n} is not a positive multiple of ${QK_I2_S} (the x86 I2_S block); ` +
        'every BitNet b1.58 matrix has K a multiple of 128',
    );
  }
}

function checkBlob(src: Uint8Array, n: number): void {
  checkI2sCount(n);
  checkBytes('i2_s', src, n / 4 + 32, n);
}

/** The per-tensor scale alpha stored at byte n/4 (little-endian f32). */
export function i2sReadScale(src: Uint8Array, n: number): number {
  checkBlob(src, n);
  return new DataView(src.buffer, src.byteOffset + n / 4, 4).getFloat32(0, true);
}

/** Code -> value; code 3 is never written and decodes to 0, as bitnet.cpp's table does. */
const CODE_VALUE = new Int8Array([-1, 0, 1, 0]);
/** SHIFTED[4 * byte + g] = value of group g in that byte. */
const SHIFTED = new Int8Array(1024);
for (let v = 0; v < 256; v++) for (let g = 0; g < 4; g++) SHIFTED[4 * v + g] = CODE_VALUE[(v >> (6 - 2 * g)) & 3]!;

/** QUAD[c0 | c1 << 2 | c2 << 4 | c3 << 6] = the four values of codes c0..c3 as one little-endian int32. */
const QUAD = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  QUAD[i] =
    (CODE_VALUE[i & 3]! & 0xff) |
    ((CODE_VALUE[(i >> 2) & 3]! & 0xff) << 8) |
    ((CODE_VALUE[(i >> 4) & 3]! & 0xff) << 16) |
    (CODE_VALUE[i >> 6]! << 24);
}

/** The low 2 bits of each byte of t, packed into 8 bits (byte 0 lowest). */
function gather(t: number): number {
  t &= 0x03030303;
  return (t | (t >>> 6) | (t >>> 12) | (t >>> 18)) & 0xff;
}

/** Writes codes (0..2) for n elements into the first n/4 bytes of out. */
function packCodes(out: Uint8Array, n: number, code: (e: number) => number): void {
  for (let blk = 0; blk < n / QK_I2_S; blk++) {
    const e0 = blk * QK_I2_S;
    const b0 = blk * BLOCK_BYTES;
    for (let p = 0; p < 32; p++) {
      out[b0 + p] =
        (code(e0 + p) << 6) | (code(e0 + 32 + p) << 4) | (code(e0 + 64 + p) << 2) | code(e0 + 96 + p);
    }
  }
}

function writeScale(out: Uint8Array, n: number, alpha: number): void {
  new DataView(out.buffer, out.byteOffset + n / 4, 4).setFloat32(0, alpha, true);
}

/**
 * Whole-tensor codec: `dequantize(src, n, ...)` needs the entire n/4 + 32 byte blob because the scale sits
 * after the codes. blockSize/typeSize describe the code area only; size tensors with i2sByteSize.
 */
export const i2_sCodec: BlockCodec & TernaryCodec = {
  name: 'i2_s',
  blockSize: QK_I2_S,
  typeSize: BLOCK_BYTES,

  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    checkBlob(src, n);
    checkDst('i2_s', dst, dstOffset, n);
    const alpha = i2sReadScale(src, n);
    const lut = new Float32Array(1024);
    for (let i = 0; i < 1024; i++) lut[i] = SHIFTED[i]! * alpha;
    for (let blk = 0; blk < n / QK_I2_S; blk++) {
      const b0 = blk * BLOCK_BYTES;
      const y = dstOffset + blk * QK_I2_S;
      for (let p = 0; p < 32; p++) {
        const v = src[b0 + p]! << 2;
        dst[y + p] = lut[v]!;
        dst[y + 32 + p] = lut[v + 1]!;
        dst[y + 64 + p] = lut[v + 2]!;
        dst[y + 96 + p] = lut[v + 3]!;
      }
    }
  },

  /**
   * bitnet.cpp `quantize_i2_s`: alpha = max|src| (src is expected to hold {-alpha, 0, +alpha} already);
   * |x| < 1e-6 becomes 0, anything else its sign. Padding after the scale is written as zeros.
   */
  quantize(src: Float32Array): Uint8Array {
    const n = src.length;
    checkI2sCount(n);
    let max = 0;
    for (let i = 0; i < n; i++) {
      const a = Math.abs(src[i]!);
      if (a > max) max = a; // fmax ignores NaN
    }
    const out = new Uint8Array(n / 4 + 32);
    packCodes(out, n, (e) => {
      const x = src[e]!;
      if (Math.abs(x) < 1e-6) return 1;
      return x * max > 0 ? 2 : 0;
    });
    writeScale(out, n, max);
    return out;
  },

  // Hot path at load time (every projection is decoded once): 4 source bytes at a time, one int32 store per group.
  decodeTernary(src: Uint8Array, n: number): TernaryPlain {
    checkBlob(src, n);
    const values = new Int8Array(n);
    const scales = new Float32Array([i2sReadScale(src, n)]);
    if (!LITTLE_ENDIAN) {
      for (let b0 = 0, y = 0; y < n; b0 += BLOCK_BYTES, y += QK_I2_S) {
        for (let p = 0; p < 32; p++) {
          const v = src[b0 + p]! << 2;
          for (let g = 0; g < 4; g++) values[y + 32 * g + p] = SHIFTED[v + g]!;
        }
      }
      return { values, scales, scaleBlock: n };
    }
    const out = new Int32Array(values.buffer);
    const words = n / 16; // 32-bit words of packed codes
    const aligned = src.byteOffset % 4 === 0 ? new Uint32Array(src.buffer, src.byteOffset, words) : undefined;
    for (let w = 0; w < words; w++) {
      const o = 4 * w;
      const word = aligned ? aligned[w]! : (src[o]! | (src[o + 1]! << 8) | (src[o + 2]! << 16) | (src[o + 3]! << 24)) >>> 0;
      // word w covers bytes p..p+3 of block w >> 3; group g of those bytes is 4 consecutive values
      const y = (w >> 3) * 32 + (w & 7); // int32 index of value 128*block + p
      out[y] = QUAD[gather(word >>> 6)]!;
      out[y + 8] = QUAD[gather(word >>> 4)]!;
      out[y + 16] = QUAD[gather(word >>> 2)]!;
      out[y + 24] = QUAD[gather(word)]!;
    }
    return { values, scales, scaleBlock: n };
  },

  /** Codes as quantize_i2_s writes them (0 for -1, 1 for 0, 2 for +1); alpha is stored as f32. */
  encodeTernary(values: Int8Array, alpha: number): Uint8Array {
    const n = values.length;
    checkI2sCount(n);
    checkTernaryInput('i2_s', values, QK_I2_S, alpha);
    const out = new Uint8Array(n / 4 + 32);
    packCodes(out, n, (e) => values[e]! + 1);
    writeScale(out, n, alpha);
    return out;
  },
};
