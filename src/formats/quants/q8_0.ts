// Q8_0 (ggml type 8): blocks of 32 elements as { f16 d; i8 qs[32] } (34 bytes), x = d * q.
// Matches ggml-quants.c `dequantize_row_q8_0` and `quantize_row_q8_0_ref` (amax/127, roundf) bit for bit.

import type { BlockCodec } from './codec.js';
import { checkCount, checkDequantize, roundHalfAway } from './codec.js';
import { f32ToF16, halfTableF32 } from '../../util/f16.js';

const QK8_0 = 32;
const BLOCK_BYTES = 2 + QK8_0;

export const q8_0Codec: BlockCodec = {
  name: 'q8_0',
  blockSize: QK8_0,
  typeSize: BLOCK_BYTES,

  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    const nb = checkDequantize(q8_0Codec, src, n, dst, dstOffset);
    const table = halfTableF32();
    for (let i = 0; i < nb; i++) {
      const b = i * BLOCK_BYTES;
      const d = table[src[b]! | (src[b + 1]! << 8)]!;
      const y = dstOffset + i * QK8_0;
      for (let j = 0; j < QK8_0; j++) {
        dst[y + j] = ((src[b + 2 + j]! << 24) >> 24) * d; // int8 * f16 value: exact in float32
      }
    }
  },

  quantize(src: Float32Array): Uint8Array {
    checkCount('q8_0', src.length, QK8_0);
    const nb = src.length / QK8_0;
    const out = new Uint8Array(nb * BLOCK_BYTES);
    for (let i = 0; i < nb; i++) {
      const x = i * QK8_0;
      let amax = 0;
      for (let j = 0; j < QK8_0; j++) {
        const a = Math.abs(src[x + j]!);
        if (!(amax > a)) amax = a; // MAX(amax, a) = amax > a ? amax : a
      }
      const d = Math.fround(amax / 127);
      const id = d ? Math.fround(1 / d) : 0;
      const h = f32ToF16(d);
      const b = i * BLOCK_BYTES;
      out[b] = h & 0xff;
      out[b + 1] = h >>> 8;
      for (let j = 0; j < QK8_0; j++) {
        out[b + 2 + j] = roundHalfAway(Math.fround(src[x + j]! * id)) & 0xff;
      }
    }
    return out;
  },
};
