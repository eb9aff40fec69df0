// Q6_K (ggml type 14): super-blocks of 256 as { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; } (210 bytes).
// Matches ggml-quants.c `dequantize_row_q6_K` and `quantize_row_q6_K_ref` (make_qx_quants, rmse_type 1)
// bit for bit; every float op of the C code is rounded to float32 with Math.fround.

import type { BlockCodec } from './codec.js';
import { checkCount, checkDequantize, nearestInt } from './codec.js';
import { f32ToF16, halfTableF32 } from '../../util/f16.js';

const QK_K = 256;
const BLOCK_BYTES = 210;
const QL = 0; // u8 ql[128]: low 4 bits
const QH = 128; // u8 qh[64]: high 2 bits
const SC = 192; // i8 scales[16]: one per 16 elements
const D = 208; // f16 d

const fround = Math.fround;
const GROUP_MAX_EPS = fround(1e-15);
const F01 = fround(0.1);

export const q6_KCodec: BlockCodec = {
  name: 'q6_K',
  blockSize: QK_K,
  typeSize: BLOCK_BYTES,

  // Hot path when the token embedding is Q6_K: one row per token.
  dequantize(src: Uint8Array, n: number, dst: Float32Array, dstOffset = 0): void {
    const nb = checkDequantize(q6_KCodec, src, n, dst, dstOffset);
    const table = halfTableF32();
    const dsc = new Float64Array(16);
    for (let i = 0; i < nb; i++) {
      const b = i * BLOCK_BYTES;
      const d = table[src[b + D]! | (src[b + D + 1]! << 8)]!;
      // C computes (d * sc) * q in float: d * sc is exact (11 by 8 bits); the double product with q is exact
      // and the Float32Array store rounds it once, as the C float multiply does.
      for (let s = 0; s < 16; s++) dsc[s] = d * ((src[b + SC + s]! << 24) >> 24);
      for (let h = 0; h < 2; h++) {
        const ql = b + QL + 64 * h;
        const qh = b + QH + 32 * h;
        const sc = 8 * h;
        const y = dstOffset + i * QK_K + 128 * h;
        for (let l = 0; l < 32; l++) {
          const is = sc + (l >> 4);
          const lo = src[ql + l]!;
          const hi = src[ql + l + 32]!;
          const q = src[qh + l]!;
          dst[y + l] = dsc[is]! * (((lo & 15) | ((q & 3) << 4)) - 32);
          dst[y + l + 32] = dsc[is + 2]! * (((hi & 15) | (((q >> 2) & 3) << 4)) - 32);
          dst[y + l + 64] = dsc[is + 4]! * (((lo >> 4) | (((q >> 4) & 3) << 4)) - 32);
          dst[y + l + 96] = dsc[is + 6]! * (((hi >> 4) | (((q >> 6) & 3) << 4)) - 32);
        }
      }
    }
  },

  quantize(src: Float32Array): Uint8Array {
    checkCount('q6_K', src.length, QK_K);
    const nb = src.length / QK_K;
    const out = new Uint8Array(nb * BLOCK_BYTES);
    const L = new Int8Array(QK_K);
    const scales = new Float64Array(QK_K / 16);
    for (let i = 0; i < nb; i++) {
      const x = i * QK_K;
      const b = i * BLOCK_BYTES;
      let maxScale = 0;
      let maxAbsScale = 0;
      for (let ib = 0; ib < QK_K / 16; ib++) {
        const scale = makeQxQuants16(src, x + 16 * ib, L, 16 * ib);
        scales[ib] = scale;
        const absScale = Math.abs(scale);
        if (absScale > maxAbsScale) {
          maxAbsScale = absScale;
          maxScale = scale;
        }
      }
      if (maxAbsScale < GROUP_MAX_EPS) continue; // whole block zero, d = +0

      const iscale = fround(-128 / maxScale);
      const dh = f32ToF16(fround(1 / iscale));
      out[b + D] = dh & 0xff;
      out[b + D + 1] = dh >>> 8;
      for (let ib = 0; ib < QK_K / 16; ib++) {
        out[b + SC + ib] = Math.min(127, nearestInt(fround(iscale * scales[ib]!))) & 0xff;
      }
      const dBlock = halfTableF32()[dh]!;
      for (let j = 0; j < QK_K / 16; j++) {
        const d = dBlock * ((out[b + SC + j]! << 24) >> 24); // exact in float32
        if (!d) continue;
        for (let ii = 0; ii < 16; ii++) {
          let l = nearestInt(fround(src[x + 16 * j + ii]! / d));
          l = Math.max(-32, Math.min(31, l));
          L[16 * j + ii] = l + 32;
        }
      }
      for (let h = 0; h < 2; h++) {
        const j = 128 * h;
        const ql = b + QL + 64 * h;
        const qh = b + QH + 32 * h;
        for (let l = 0; l < 32; l++) {
          const l1 = L[j + l]!;
          const l2 = L[j + l + 32]!;
          const l3 = L[j + l + 64]!;
          const l4 = L[j + l + 96]!;
          out[ql + l] = (l1 & 15) | ((l3 & 15) << 4);
          out[ql + l + 32] = (l2 & 15) | ((l4 & 15) << 4);
          out[qh + l] = (l1 >> 4) | ((l2 >> 4) << 2) | ((l3 >> 4) << 4) | ((l4 >> 4) << 6);
        }
      }
    }
    return out;
  },
};

/**
 * ggml `make_qx_quants(16, 32, x, L, rmse_type = 1, qw = NULL)`: picks the scale for 16 elements that
 * minimises the x^2-weighted squared error over 19 candidate inverse scales. Writes L (0..63), returns the scale.
 */
function makeQxQuants16(x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const n = 16;
  const nmax = 32;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fround(iscale * xi))));
    L[lo + i] = l + nmax;
    const w = fround(xi * xi);
    sumlx = fround(sumlx + fround(fround(w * xi) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  let scale = suml2 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(F01 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fround(iscale * xi))));
      const w = fround(xi * xi);
      sumlx = fround(sumlx + fround(fround(w * xi) * l));
      suml2 = fround(suml2 + fround(fround(w * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fround(iscale * x[xo + i]!));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}
