// Reference ternary kernels, exact twins of bitnet.cpp's I2_S path: per-token absmax int8 activation
// quantization (quantize_row_i8_s) and the integer ternary dot with its float32 epilogue
// ((float)D - (float)act_sum) / act_scale * w_scale. Weights are kept 2-bit packed (code = w + 1,
// four per byte from the low bits up, rows padded to whole bytes).
import type { TernaryPlain } from '../../formats/quants/codec.js';
import { uniformScale } from '../../formats/ternarize.js';
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

export function createTernaryRef(plain: TernaryPlain, rows: number, cols: number): RefTernaryMatrix {
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
function nearestInt(v: number): number {
  return fround(v + 12582912) - 12582912;
}

export function quantizeActsRef(x: Float32Array, T: number, K: number): QuantizedActs {
  const q = new Int8Array(T * K);
  const scale = new Float32Array(T);
  const sum = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    const row = t * K;
    let max = 0.00001; // double, as in quantize_row_i8_s
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
  return { q, scale, sum, T, K };
}

/** Signed ternary dot of packed row `codes[off..]` with int8 `q[qOff..]` over n columns (exact int). */
function dotRow(codes: Uint8Array, off: number, q: Int8Array, qOff: number, n: number): number {
  let acc = 0;
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const b = codes[off + (c >> 2)]!;
    acc +=
      ((b & 3) - 1) * q[qOff + c]! +
      (((b >> 2) & 3) - 1) * q[qOff + c + 1]! +
      (((b >> 4) & 3) - 1) * q[qOff + c + 2]! +
      (((b >> 6) & 3) - 1) * q[qOff + c + 3]!;
  }
  for (; c < n; c++) acc += (((codes[off + (c >> 2)]! >> (2 * (c & 3))) & 3) - 1) * q[qOff + c]!;
  return acc;
}

export function matmulTernaryRef(w: RefTernaryMatrix, xq: QuantizedActs, y: Float32Array): void {
  const { rows, cols, codes, rowBytes } = w;
  if (xq.K !== cols) throw new Error(`activation width ${xq.K} != matrix cols ${cols}`);
  for (let t = 0; t < xq.T; t++) {
    const s = xq.scale[t]!;
    const qOff = t * cols;
    for (let r = 0; r < rows; r++) {
      let out: number;
      if (w.alpha !== undefined) {
        // D - act_sum is an exact integer below 2^24, so the float conversion is exact
        out = fround(fround(dotRow(codes, r * rowBytes, xq.q, qOff, cols) / s) * w.alpha);
      } else {
        // per-block scales (TQ blocks with differing d): sum_b d_b * dot_b, then / s
        const nb = cols / w.scaleBlock;
        let acc = 0;
        for (let b = 0; b < nb; b++) {
          const c0 = b * w.scaleBlock;
          const d = dotBlock(codes, r * rowBytes, xq.q, qOff, c0, w.scaleBlock);
          acc += d * w.blockScales![r * nb + b]!;
        }
        out = fround(fround(acc) / s);
      }
      y[t * rows + r] = out;
    }
  }
}

function dotBlock(codes: Uint8Array, rowOff: number, q: Int8Array, qOff: number, c0: number, n: number): number {
  let acc = 0;
  for (let c = c0; c < c0 + n; c++) acc += (((codes[rowOff + (c >> 2)]! >> (2 * (c & 3))) & 3) - 1) * q[qOff + c]!;
  return acc;
}
