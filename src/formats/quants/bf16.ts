// BF16 (ggml type 30): the upper 16 bits of a float32, little-endian, one element per "block".
// Dequantize = GGML_BF16_TO_FP32 (bits << 16, NaN payloads kept); quantize = GGML_FP32_TO_BF16 (round to nearest even).

import type { BlockCodec } from './codec.js';
import { checkDequantize, LITTLE_ENDIAN } from './codec.js';
import { bf16ToF32, f32ToBf16 } from '../../util/f16.js';

export const bf16Codec: BlockCodec = {
  name: 'bf16',
  blockSize: 1,
  typeSize: 2,

  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    checkDequantize(bf16Codec, src, n, dst, dstOffset);
    if (LITTLE_ENDIAN) {
      const bits = new Uint32Array(dst.buffer, dst.byteOffset + 4 * dstOffset, n);
      for (let i = 0, o = 0; i < n; i++, o += 2) bits[i] = ((src[o]! | (src[o + 1]! << 8)) << 16) >>> 0;
      return;
    }
    for (let i = 0, o = 0; i < n; i++, o += 2) dst[dstOffset + i] = bf16ToF32(src[o]! | (src[o + 1]! << 8));
  },

  quantize(src: Float32Array): Uint8Array {
    const out = new Uint8Array(2 * src.length);
    for (let i = 0; i < src.length; i++) {
      const h = f32ToBf16(src[i]!);
      out[2 * i] = h & 0xff;
      out[2 * i + 1] = h >>> 8;
    }
    return out;
  },
};
