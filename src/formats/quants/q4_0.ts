// Q4_0 (ggml type 2): blocks of 32 elements as { f16 d; u8 qs[16] } (18 bytes), element j in the low nibble
// of byte j and element j+16 in the high nibble, stored as q + 8; x = d * (nibble - 8). Matches ggml-quants.c
// `dequantize_row_q4_0` and `quantize_row_q4_0_ref` (d = the largest-|x| element / -8) bit for bit.

import type { BlockCodec } from './codec.js';
import { checkCount, checkDequantize } from './codec.js';
import { f32ToF16, halfTableF32 } from '../../util/f16.js';

const QK4_0 = 32;
const BLOCK_BYTES = 2 + QK4_0 / 2;

/** C's `(int8_t)(x0 + 8.5f)` for the in-range values quantize produces; NaN converts to 0 as on x86. */
function nibble(x: number, id: number): number {
  const v = Math.trunc(Math.fround(Math.fround(x * id) + 8.5));
  return v !== v ? 0 : Math.min(15, (v << 24) >> 24) & 0xff;
}

export const q4_0Codec: BlockCodec = {
  name: 'q4_0',
  blockSize: QK4_0,
  typeSize: BLOCK_BYTES,

  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    const nb = checkDequantize(q4_0Codec, src, n, dst, dstOffset);
    const table = halfTableF32();
    for (let i = 0; i < nb; i++) {
      const b = i * BLOCK_BYTES;
      const d = table[src[b]! | (src[b + 1]! << 8)]!;
      const y = dstOffset + i * QK4_0;
      for (let j = 0; j < QK4_0 / 2; j++) {
        const q = src[b + 2 + j]!;
        dst[y + j] = ((q & 0x0f) - 8) * d; // small int * f16 value: exact in float32
        dst[y + j + QK4_0 / 2] = ((q >> 4) - 8) * d;
      }
    }
  },

  quantize(src: Float32Array): Uint8Array {
    checkCount('q4_0', src.length, QK4_0);
    const nb = src.length / QK4_0;
    const out = new Uint8Array(nb * BLOCK_BYTES);
    for (let i = 0; i < nb; i++) {
      const x = i * QK4_0;
      let amax = 0;
      let max = 0;
      for (let j = 0; j < QK4_0; j++) {
        const v = src[x + j]!;
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = Math.fround(max / -8);
      const id = d ? Math.fround(1 / d) : 0;
      const h = f32ToF16(d);
      const b = i * BLOCK_BYTES;
      out[b] = h & 0xff;
      out[b + 1] = h >>> 8;
      for (let j = 0; j < QK4_0 / 2; j++) {
        out[b + 2 + j] = (nibble(src[x + j]!, id) | (nibble(src[x + QK4_0 / 2 + j]!, id) << 4)) & 0xff;
      }
    }
    return out;
  },
};
