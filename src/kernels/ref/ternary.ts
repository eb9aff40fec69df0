// Reference ternary kernels, exact twins of bitnet.cpp's I2_S path: per-token absmax int8 activation
// quantization (quantize_row_i8_s) and the integer ternary dot with its float32 epilogue
// ((float)D - (float)act_sum) / act_scale * w_scale. Weights are kept 2-bit packed (code = w + 1,
// four per byte from the low bits up, rows padded to whole bytes).
import { i2_sCodec } from '../../formats/quants/i2_s.js';
import { tq2_0Codec } from '../../formats/quants/tq2_0.js';
import { uniformScale } from '../../formats/ternarize.js';
import type { TernaryData } from '../../formats/model-file.js';
import type { QuantizedActs, TernaryMatrix } from '../backend.js';

const fround = Math.fround;

export interface RefTernaryMatrix extends TernaryMatrix {
  /** [rows, rowBytes] packed codes */
  readonly codes: Uint8Array;
  readonly rowBytes: number;
  /** per-block scales [rows, cols / scaleBlock] when the tensor has no single scale */
  readonly blockScales: Float32Array | undefined;
  readonly scaleBlock: number;
}

export function createTernaryRef(input: TernaryData, rows: number, cols: number): RefTernaryMatrix {
  const plain = input.kind === 'plain' ? input.plain : (input.kind === 'i2s' ? i2_sCodec : tq2_0Codec).decodeTernary(input.bytes, rows * cols);
  const rowBytes = Math.ceil(cols / 4);
  const codes = new Uint8Array(rows * rowBytes);
  const v = plain.values;
  for (let r = 0; r < rows; r++) {
    const src = r * cols;
    const dst = r * rowBytes;
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = src + c;
      codes[dst + (c >> 2)] = (v[o]! + 1) | ((v[o + 1]! + 1) << 2) | ((v[o + 2]! + 1) << 4) | ((v[o + 3]! + 1) << 6);
    }
    for (; c < cols; c++) codes[dst + (c >> 2)]! |= (v[src + c]! + 1) << (2 * (c & 3));
  }
  const alpha = uniformScale(plain);
  if (alpha !== undefined) return { rows, cols, alpha, codes, rowBytes, blockScales: undefined, scaleBlock: cols };
  if (cols % plain.scaleBlock !== 0) throw new Error(`scale blocks of ${plain.scaleBlock} must not straddle rows of ${cols}`);
  return { rows, cols, alpha: undefined, codes, rowBytes, blockScales: plain.scales, scaleBlock: plain.scaleBlock };
}

/** RNE to integer exactly as ggml's nearest_int (float add of 1.5 * 2^23). */
export function nearestInt(v: number): number {
  return fround(v + 12582912) - 12582912;
}

/** quantize_row_i8_s for each of the T rows of x into out. */
export function quantizeActsRef(x: Float32Array, out: QuantizedActs): void {
  const { T, K, q, scale, sum } = out;
  for (let t = 0; t < T; t++) {
    const row = t * K;
    let max = 0.00001; // starts at 1e-5 (a double in the C code; the max of floats is a float)
    for (let i = 0; i < K; i++) {
      const a = Math.abs(x[row + i]!);
      if (a > max) max = a;
    }
    const s = fround(127 / max);
    let acc = 0;
    for (let i = 0; i < K; i++) {
      let v = nearestInt(fround(x[row + i]! * s));
      if (v > 127) v = 127;
      else if (v < -128) v = -128;
      q[row + i] = v;
      acc += v;
    }
    scale[t] = s;
    sum[t] = acc;
  }
}

/** Signed ternary dot of packed row codes[off..] with int8 q[qOff..] over columns [c0, c1) (exact int). */
function dotRange(codes: Uint8Array, off: number, q: Int8Array, qOff: number, c0: number, c1: number): number {
  let acc = 0;
  for (let c = c0; c < c1; c++) acc += (((codes[off + (c >> 2)]! >> (2 * (c & 3))) & 3) - 1) * q[qOff + c]!;
  return acc;
}

export function matmulTernaryRef(w: RefTernaryMatrix, xq: QuantizedActs, y: Float32Array): void {
  const { rows, cols, codes, rowBytes } = w;
  if (xq.K !== cols) throw new Error(`activation width ${xq.K} != matrix cols ${cols}`);
  for (let t = 0; t < xq.T; t++) {
    const s = xq.scale[t]!;
    const qOff = t * cols;
    for (let r = 0; r < rows; r++) {
      if (w.alpha !== undefined) {
        // D - act_sum is an exact integer below 2^24, so the float conversion is exact
        y[t * rows + r] = fround(fround(dotRange(codes, r * rowBytes, xq.q, qOff, 0, cols) / s) * w.alpha);
      } else {
        // per-block scales (TQ blocks whose d differ): float32 sum over blocks of d_b * dot_b, then / s
        const nb = cols / w.scaleBlock;
        let acc = 0;
        for (let b = 0; b < nb; b++) {
          const d = dotRange(codes, r * rowBytes, xq.q, qOff, b * w.scaleBlock, (b + 1) * w.scaleBlock);
          acc = fround(acc + fround(d * w.blockScales![r * nb + b]!));
        }
        y[t * rows + r] = fround(acc / s);
      }
    }
  }
}
