// The int8 lm_head: a dense matrix (the tied f16 embedding, usually) requantized at load to 7-bit values in
// [-63, 63] with one float32 scale per row, so it runs on the same integer dot kernels as the ternary
// weights (7 bits keep it inside the relaxed-SIMD i8 x i7 dot). Every backend uses these bytes.
import type { DenseData } from '../formats/model-file.js';

const fround = Math.fround;

export interface Int8Rows {
  /** [rows, cols] values in [-63, 63] */
  values: Int8Array;
  /** [rows] row scale: absmax / 63 */
  scales: Float32Array;
}

/** Requantizes rows [r0, r1) of `data` into `out` (rows are dequantized one at a time). */
export function requantizeRows(data: DenseData, cols: number, r0: number, r1: number, out: Int8Rows): void {
  const t = data.type;
  const rowBytes = (cols / t.blockSize) * t.typeSize;
  const row = new Float32Array(cols);
  for (let r = r0; r < r1; r++) {
    t.codec.dequantize(data.bytes.subarray(r * rowBytes, (r + 1) * rowBytes), cols, row);
    let amax = 0;
    for (let i = 0; i < cols; i++) {
      const a = Math.abs(row[i]!);
      if (a > amax) amax = a;
    }
    const inv = amax > 0 ? fround(63 / amax) : 0;
    const off = r * cols;
    for (let i = 0; i < cols; i++) out.values[off + i] = fround(fround(row[i]! * inv) + 12582912) - 12582912;
    out.scales[r] = fround(amax / 63);
  }
}

/** Rows per chunk when a matrix is requantized from a source (about 5 MB of f16 for 2B4T's embedding: each chunk read is garbage afterwards, and larger ones left ~30 MB more RSS after loading). */
export const REQUANT_CHUNK_ROWS = 1024;

export function requantizeInt8Rows(data: DenseData, rows: number, cols: number): Int8Rows {
  const out = { values: new Int8Array(rows * cols), scales: new Float32Array(rows) };
  requantizeRows(data, cols, 0, rows, out);
  return out;
}
