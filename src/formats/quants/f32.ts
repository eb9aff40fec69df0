// F32 (ggml type 0): plain little-endian float32, one element per "block". Matches ggml's memcpy path.

import type { BlockCodec } from './codec.js';
import { checkDequantize, LITTLE_ENDIAN } from './codec.js';

export const f32Codec: BlockCodec = {
  name: 'f32',
  blockSize: 1,
  typeSize: 4,

  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    checkDequantize(f32Codec, src, n, dst, dstOffset);
    if (LITTLE_ENDIAN) {
      // byte copy works whatever src's alignment is
      new Uint8Array(dst.buffer, dst.byteOffset + 4 * dstOffset, 4 * n).set(src.subarray(0, 4 * n));
      return;
    }
    const view = new DataView(src.buffer, src.byteOffset, 4 * n);
    for (let i = 0; i < n; i++) dst[dstOffset + i] = view.getFloat32(4 * i, true);
  },

  quantize(src: Float32Array): Uint8Array {
    const out = new Uint8Array(4 * src.length);
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(src.buffer, src.byteOffset, 4 * src.length));
      return out;
    }
    const view = new DataView(out.buffer);
    for (let i = 0; i < src.length; i++) view.setFloat32(4 * i, src[i]!, true);
    return out;
  },
};
