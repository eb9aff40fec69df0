// TQ1_0 (ggml type 34): ternary super-blocks of 256 as { u8 qs[48]; u8 qh[4]; f16 d; } (54 bytes), base-3
// trits (q+1) packed 5 per byte (4 in qh) as ceil(v * 256 / 243), most significant trit first.
// Matches ggml-quants.c `dequantize_row_tq1_0` and `quantize_row_tq1_0_ref` bit for bit.

import type { BlockCodec, TernaryCodec } from './codec.js';
import { checkDequantize } from './codec.js';
import { decodeTernaryTq, encodeTernaryTq, encodeTernaryTqBlocks, QK_K, quantizeTq, readD, type TqLayout } from './tq-blocks.js';
import { halfTableF32 } from '../../util/f16.js';

const BLOCK_BYTES = 54;
const QH = 48; // u8 qh[4]

/**
 * Byte index and trit position for each element of a block, in element order (the order of the
 * dequantize loops): qs[0..31] trit n holds elements 32n + m, qs[32..47] holds 160 + 16n + m,
 * qh[0..3] trit n holds 240 + 4n + j.
 */
const ELEM_BYTE = new Uint8Array(QK_K);
const ELEM_TRIT = new Uint8Array(QK_K);
{
  let e = 0;
  for (let n = 0; n < 5; n++) for (let m = 0; m < 32; m++, e++) [ELEM_BYTE[e], ELEM_TRIT[e]] = [m, n];
  for (let n = 0; n < 5; n++) for (let m = 0; m < 16; m++, e++) [ELEM_BYTE[e], ELEM_TRIT[e]] = [32 + m, n];
  for (let n = 0; n < 4; n++) for (let j = 0; j < 4; j++, e++) [ELEM_BYTE[e], ELEM_TRIT[e]] = [QH + j, n];
}

/** TRIT[5 * byte + n] = trit n (0 = most significant) of a packed byte, minus 1: ((u8)(byte * 3^n) * 3) >> 8. */
const TRIT = new Int8Array(256 * 5);
for (let v = 0; v < 256; v++) {
  for (let n = 0, p = 1; n < 5; n++, p *= 3) TRIT[5 * v + n] = ((((v * p) & 0xff) * 3) >> 8) - 1;
}

/** Packs one block's 256 codes (0..2, element order) into out[b .. b+52). */
function packBlock(out: Uint8Array, b: number, code: (e: number) => number): void {
  const acc = new Uint16Array(52); // base-3 accumulators, most significant trit first
  for (let e = 0; e < QK_K; e++) {
    const k = ELEM_BYTE[e]!;
    acc[k] = acc[k]! * 3 + code(e);
  }
  for (let k = 0; k < 52; k++) {
    const v = k < QH ? acc[k]! : acc[k]! * 3; // qh: shift the 4 trits to the top of 5
    out[b + k] = ((v & 0xff) * 256 + 242) / 243; // ceiling division; Uint8Array truncates
  }
}

function decodeBlock(src: Uint8Array, b: number, values: Int8Array, y: number): void {
  for (let e = 0; e < QK_K; e++) values[y + e] = TRIT[5 * src[b + ELEM_BYTE[e]!]! + ELEM_TRIT[e]!]!;
}

/** qs[48], qh[4], then the f16 d */
const LAYOUT: TqLayout = { name: 'tq1_0', blockBytes: BLOCK_BYTES, dOffset: 52, packBlock, decodeBlock };

export const tq1_0Codec: BlockCodec & TernaryCodec = {
  name: 'tq1_0',
  blockSize: QK_K,
  typeSize: BLOCK_BYTES,

  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    const nb = checkDequantize(tq1_0Codec, src, n, dst, dstOffset);
    const table = halfTableF32();
    for (let i = 0; i < nb; i++) {
      const b = i * BLOCK_BYTES;
      const d = readD(LAYOUT, src, b, table);
      const y = dstOffset + i * QK_K;
      for (let e = 0; e < QK_K; e++) dst[y + e] = TRIT[5 * src[b + ELEM_BYTE[e]!]! + ELEM_TRIT[e]!]! * d;
    }
  },

  quantize: (src) => quantizeTq(LAYOUT, src),
  decodeTernary: (src, n) => decodeTernaryTq(LAYOUT, src, n),
  encodeTernary: (values, alpha) => encodeTernaryTq(LAYOUT, values, alpha),
  encodeTernaryBlocks: (values, scales) => encodeTernaryTqBlocks(LAYOUT, values, scales),
};
