// TQ2_0 (ggml type 35): ternary super-blocks of 256 as { u8 qs[64]; f16 d; } (66 bytes), 2-bit codes q+1.
// Byte 32c+m holds elements 128c + 32l + m in bits 2l+1..2l (the first 32 in bits 1..0, opposite of I2_S).
// Matches ggml-quants.c `dequantize_row_tq2_0` and `quantize_row_tq2_0_ref` bit for bit.

import type { BlockCodec, TernaryCodec, TernaryPlain } from './codec.js';
import { checkBytes, checkCount, checkDequantize, checkTernaryInput, f16Scale, roundHalfAway } from './codec.js';
import { f32ToF16, halfTableF32 } from '../../util/f16.js';
import { BitnetError } from '../../errors.js';

const QK_K = 256;
const BLOCK_BYTES = 66;
const D = 64; // f16 d after qs[64]

/** Writes the 64 code bytes of one block; code(e) gives the 2-bit code of element e (0..255) of the block. */
function packBlock(out: Uint8Array, b: number, code: (e: number) => number): void {
  for (let c = 0; c < 2; c++) {
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let l = 0; l < 4; l++) q |= (code(128 * c + 32 * l + m) & 3) << (2 * l);
      out[b + 32 * c + m] = q;
    }
  }
}

function writeD(out: Uint8Array, b: number, h: number): void {
  out[b + D] = h & 0xff;
  out[b + D + 1] = h >>> 8;
}

export const tq2_0Codec: BlockCodec & TernaryCodec = {
  name: 'tq2_0',
  blockSize: QK_K,
  typeSize: BLOCK_BYTES,

  /** As ggml: (code - 1) * d, so a never-written code 3 decodes to 2d. */
  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    const nb = checkDequantize(tq2_0Codec, src, n, dst, dstOffset);
    const table = halfTableF32();
    for (let i = 0; i < nb; i++) {
      const b = i * BLOCK_BYTES;
      const d = table[src[b + D]! | (src[b + D + 1]! << 8)]!;
      for (let c = 0; c < 2; c++) {
        const y = dstOffset + i * QK_K + 128 * c;
        for (let m = 0; m < 32; m++) {
          const q = src[b + 32 * c + m]!;
          dst[y + m] = ((q & 3) - 1) * d;
          dst[y + 32 + m] = (((q >> 2) & 3) - 1) * d;
          dst[y + 64 + m] = (((q >> 4) & 3) - 1) * d;
          dst[y + 96 + m] = ((q >> 6) - 1) * d;
        }
      }
    }
  },

  quantize(src: Float32Array): Uint8Array {
    checkCount('tq2_0', src.length, QK_K);
    const nb = src.length / QK_K;
    const out = new Uint8Array(nb * BLOCK_BYTES);
    for (let i = 0; i < nb; i++) {
      const x = i * QK_K;
      let amax = 0;
      for (let j = 0; j < QK_K; j++) {
        const a = Math.abs(src[x + j]!);
        if (!(amax > a)) amax = a;
      }
      const d = amax;
      const id = d ? Math.fround(1 / d) : 0;
      writeD(out, i * BLOCK_BYTES, f32ToF16(d));
      packBlock(out, i * BLOCK_BYTES, (e) => roundHalfAway(Math.fround(src[x + e]! * id)) + 1);
    }
    return out;
  },

  decodeTernary(src: Uint8Array, n: number): TernaryPlain {
    checkCount('tq2_0', n, QK_K);
    const nb = n / QK_K;
    checkBytes('tq2_0', src, nb * BLOCK_BYTES, n);
    const values = new Int8Array(n);
    const scales = new Float32Array(nb);
    const table = halfTableF32();
    for (let i = 0; i < nb; i++) {
      const b = i * BLOCK_BYTES;
      scales[i] = table[src[b + D]! | (src[b + D + 1]! << 8)]!;
      for (let c = 0; c < 2; c++) {
        const y = i * QK_K + 128 * c;
        for (let m = 0; m < 32; m++) {
          const q = src[b + 32 * c + m]!;
          if ((q & 0x55 & (q >> 1)) !== 0) throw code3Error(i, q);
          values[y + m] = (q & 3) - 1;
          values[y + 32 + m] = ((q >> 2) & 3) - 1;
          values[y + 64 + m] = ((q >> 4) & 3) - 1;
          values[y + 96 + m] = (q >> 6) - 1;
        }
      }
    }
    return { values, scales, scaleBlock: QK_K };
  },

  /** Each block gets d = f16(alpha), except all-zero blocks, which get d = 0 as quantize_row_tq2_0_ref writes. */
  encodeTernary(values: Int8Array, alpha: number): Uint8Array {
    checkTernaryInput('tq2_0', values, QK_K, alpha);
    const nb = values.length / QK_K;
    const out = new Uint8Array(nb * BLOCK_BYTES);
    const h = f16Scale('tq2_0', alpha);
    for (let i = 0; i < nb; i++) {
      const x = i * QK_K;
      let nonzero = false;
      for (let j = 0; j < QK_K && !nonzero; j++) nonzero = values[x + j] !== 0;
      writeD(out, i * BLOCK_BYTES, nonzero ? h : 0);
      packBlock(out, i * BLOCK_BYTES, (e) => values[x + e]! + 1);
    }
    return out;
  },
};

function code3Error(block: number, byte: number): BitnetError {
  return new BitnetError(
    'CORRUPT',
    `tq2_0: block ${block} holds code 3 (byte 0x${byte.toString(16).padStart(2, '0')}), which is not ternary; ` +
      'ggml would dequantize it to 2*d',
  );
}
