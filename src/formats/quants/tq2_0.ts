// TQ2_0 (ggml type 35): ternary super-blocks of 256 as { u8 qs[64]; f16 d; } (66 bytes), 2-bit codes q+1.
// Byte 32c+m holds elements 128c + 32l + m in bits 2l+1..2l (the first 32 in bits 1..0, opposite of I2_S).
// Matches ggml-quants.c `dequantize_row_tq2_0` and `quantize_row_tq2_0_ref` bit for bit.

import type { BlockCodec, TernaryCodec } from './codec.js';
import { checkDequantize } from './codec.js';
import { decodeTernaryTq, encodeTernaryTq, encodeTernaryTqBlocks, QK_K, quantizeTq, readD, type TqLayout } from './tq-blocks.js';
import { halfTableF32 } from '../../util/f16.js';
import { BitnetError } from '../../errors.js';

const BLOCK_BYTES = 66;

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

function decodeBlock(src: Uint8Array, b: number, values: Int8Array, y0: number, block: number): void {
  for (let c = 0; c < 2; c++) {
    const y = y0 + 128 * c;
    for (let m = 0; m < 32; m++) {
      const q = src[b + 32 * c + m]!;
      if ((q & 0x55 & (q >> 1)) !== 0) throw code3Error(block, q);
      values[y + m] = (q & 3) - 1;
      values[y + 32 + m] = ((q >> 2) & 3) - 1;
      values[y + 64 + m] = ((q >> 4) & 3) - 1;
      values[y + 96 + m] = (q >> 6) - 1;
    }
  }
}

/** qs[64] then the f16 d */
const LAYOUT: TqLayout = { name: 'tq2_0', blockBytes: BLOCK_BYTES, dOffset: 64, packBlock, decodeBlock };

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
      const d = readD(LAYOUT, src, b, table);
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

  quantize: (src) => quantizeTq(LAYOUT, src),
  decodeTernary: (src, n) => decodeTernaryTq(LAYOUT, src, n),
  encodeTernary: (values, alpha) => encodeTernaryTq(LAYOUT, values, alpha),
  encodeTernaryBlocks: (values, scales) => encodeTernaryTqBlocks(LAYOUT, values, scales),
};

function code3Error(block: number, byte: number): BitnetError {
  return new BitnetError(
    'CORRUPT',
    `tq2_0: block ${block} holds code 3 (byte 0x${byte.toString(16).padStart(2, '0')}), which is not ternary; ` +
      'ggml would dequantize it to 2*d',
  );
}
