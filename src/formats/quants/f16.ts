// F16 (ggml type 1): IEEE binary16, little-endian, one element per "block".
// Dequantize = GGML_FP16_TO_FP32 through a 65536-entry table; quantize = GGML_FP32_TO_FP16 (round to nearest even).

import type { BlockCodec } from './codec.js';
import { checkDequantize } from './codec.js';
import { f32ToF16, halfTableF32 } from '../../util/f16.js';

export const f16Codec: BlockCodec = {
  name: 'f16',
  blockSize: 1,
  typeSize: 2,

  // Hot path: the F16 token embedding is dequantized one row per token.
  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    checkDequantize(f16Codec, src, n, dst, dstOffset);
    const table = halfTableF32();
    for (let i = 0, o = 0; i < n; i++, o += 2) {
      dst[dstOffset + i] = table[src[o]! | (src[o + 1]! << 8)]!;
    }
  },

  quantize(src: Float32Array): Uint8Array {
    const out = new Uint8Array(2 * src.length);
    for (let i = 0; i < src.length; i++) {
      const h = f32ToF16(src[i]!);
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >>> 8;
    }
    return out;
  },
};
