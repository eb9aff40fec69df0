// Reference dense kernels for the lm_head (and embedding rows), following ggml's vec_dot semantics per
// storage type: F32/F16/BF16 rows dotted with the activation in float32, in order (the input rounded to
// f16/bf16 on ggml's single-row path), Q8_0 rows against Q8_0-quantized activations, Q6_K rows against
// Q8_K activations (ggml's *_generic dots), and the int8 lm_head (requant.ts) against int8 activations.
import { BitnetError } from '../../errors.js';
import type { DenseData } from '../../formats/model-file.js';
import { bf16ToF32, f16ToF32, f32ToBf16, halfTableF32, roundF16 } from '../../util/f16.js';
import type { DenseMatrix, QuantizedActs } from '../backend.js';
import type { DenseSource } from '../../formats/model-file.js';
import { REQUANT_CHUNK_ROWS, requantizeInt8Rows, requantizeRows, type Int8Rows } from '../requant.js';
import { quantizeActsRef } from './ternary.js';

const fround = Math.fround;

export interface RefDenseMatrix extends DenseMatrix {
  readonly data: DenseData;
  readonly rowBytes: number;
  /** set for the int8 lm_head (then `data` is not kept) */
  readonly int8: Int8Rows | undefined;
}

export function createDenseRef(data: DenseData, rows: number, cols: number, opts: { int8?: boolean } = {}): RefDenseMatrix {
  const t = data.type;
  if (cols % t.blockSize !== 0) throw new BitnetError('SHAPE_MISMATCH', `row length ${cols} is not a multiple of the ${t.name} block size`);
  const rowBytes = (cols / t.blockSize) * t.typeSize;
  if (data.bytes.byteLength !== rowBytes * rows) {
    throw new BitnetError('SHAPE_MISMATCH', `${t.name} matrix [${rows}, ${cols}] needs ${rowBytes * rows} bytes, got ${data.bytes.byteLength}`);
  }
  if (opts.int8) {
    const int8 = requantizeInt8Rows(data, rows, cols);
    return { rows, cols, typeName: 'I8_ROWS', data: { type: t, bytes: new Uint8Array(0) }, rowBytes: 0, int8 };
  }
  return { rows, cols, typeName: t.name, data, rowBytes, int8: undefined };
}

export async function createDenseFromRef(src: DenseSource, opts: { int8?: boolean } = {}): Promise<RefDenseMatrix> {
  const { type, rows, cols } = src;
  if (!opts.int8) return createDenseRef({ type, bytes: await src.read(0, rows) }, rows, cols);
  const int8 = { values: new Int8Array(rows * cols), scales: new Float32Array(rows) };
  for (let r0 = 0; r0 < rows; r0 += REQUANT_CHUNK_ROWS) {
    const r1 = Math.min(rows, r0 + REQUANT_CHUNK_ROWS);
    const chunk = { type, bytes: await src.read(r0, r1) };
    // requantizeRows indexes rows from the chunk's start: write through views shifted to r0
    requantizeRows(chunk, cols, 0, r1 - r0, { values: int8.values.subarray(r0 * cols), scales: int8.scales.subarray(r0) });
  }
  return { rows, cols, typeName: 'I8_ROWS', data: { type, bytes: new Uint8Array(0) }, rowBytes: 0, int8 };
}

/** The int8 lm_head: int8 activations (as BitLinear's), integer dot, then (D / s) * row scale in float32. */
function matmulInt8Rows(w: RefDenseMatrix, x: Float32Array, T: number, y: Float32Array): void {
  const { rows, cols } = w;
  const { values, scales } = w.int8!;
  const xq: QuantizedActs = { q: new Int8Array(T * cols), scale: new Float32Array(T), sum: new Int32Array(T), T, K: cols };
  quantizeActsRef(x, xq);
  for (let t = 0; t < T; t++) {
    const s = xq.scale[t]!;
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let i = 0; i < cols; i++) d += values[r * cols + i]! * xq.q[t * cols + i]!;
      y[t * rows + r] = fround(fround(d / s) * scales[r]!);
    }
  }
}

export function matmulDenseRef(w: RefDenseMatrix, x: Float32Array, T: number, y: Float32Array, roundInput: boolean): void {
  if (w.int8) return matmulInt8Rows(w, x, T, y);
  const { rows, cols } = w;
  const bytes = w.data.bytes;
  switch (w.data.type.name) {
    case 'F32':
    case 'F16':
    case 'BF16': {
      const name = w.data.type.name;
      const xr = new Float32Array(cols);
      const u16 = name === 'F32' ? undefined : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
      const f32 = name === 'F32' ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : undefined;
      const half = halfTableF32();
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < cols; i++) {
          const v = x[t * cols + i]!;
          xr[i] = !roundInput || name === 'F32' ? v : name === 'F16' ? roundF16(v) : bf16ToF32(f32ToBf16(v));
        }
        // float32 products summed in float32, in column order
        for (let r = 0; r < rows; r++) {
          let acc = 0;
          const off = r * cols;
          if (f32) for (let i = 0; i < cols; i++) acc = fround(acc + fround(f32[off + i]! * xr[i]!));
          else if (name === 'F16') for (let i = 0; i < cols; i++) acc = fround(acc + fround(half[u16![off + i]!]! * xr[i]!));
          else for (let i = 0; i < cols; i++) acc = fround(acc + fround(bf16ToF32(u16![off + i]!) * xr[i]!));
          y[t * rows + r] = acc;
        }
      }
      return;
    }
    case 'Q8_0':
      for (let t = 0; t < T; t++) {
        const xq = quantizeQ8_0(x.subarray(t * cols, (t + 1) * cols));
        for (let r = 0; r < rows; r++) y[t * rows + r] = dotQ8_0(bytes, r * w.rowBytes, xq, cols / 32);
      }
      return;
    case 'Q6_K':
      for (let t = 0; t < T; t++) {
        const xq = quantizeQ8_K(x.subarray(t * cols, (t + 1) * cols));
        for (let r = 0; r < rows; r++) y[t * rows + r] = dotQ6_K(bytes, r * w.rowBytes, xq, cols / 256);
      }
      return;
    default:
      throw new BitnetError('UNSUPPORTED_TENSOR_TYPE', `no dense matmul for ${w.data.type.name}`);
  }
}

interface Q8Blocks {
  d: Float32Array;
  qs: Int8Array;
}

/** quantize_row_q8_0_ref: per 32 values d = amax/127 (stored as f16), q = roundf(x / d). */
function quantizeQ8_0(x: Float32Array): Q8Blocks {
  const nb = x.length / 32;
  const d = new Float32Array(nb);
  const qs = new Int8Array(x.length);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
    const dd = fround(amax / 127);
    const id = dd ? fround(1 / dd) : 0;
    for (let j = 0; j < 32; j++) {
      const v = fround(x[b * 32 + j]! * id);
      qs[b * 32 + j] = Math.sign(v) * Math.round(Math.abs(v)); // roundf: half away from zero
    }
    d[b] = roundF16(dd);
  }
  return { d, qs };
}

/** ggml_vec_dot_q8_0_q8_0 (generic): sumf += sumi * (dx * dy). */
function dotQ8_0(w: Uint8Array, off: number, x: Q8Blocks, nb: number): number {
  let sumf = 0;
  for (let b = 0; b < nb; b++) {
    const p = off + b * 34;
    const dw = f16ToF32(w[p]! | (w[p + 1]! << 8));
    let sumi = 0;
    for (let j = 0; j < 32; j++) sumi += ((w[p + 2 + j]! << 24) >> 24) * x.qs[b * 32 + j]!;
    sumf = fround(sumf + fround(sumi * fround(dw * x.d[b]!)));
  }
  return sumf;
}

/** quantize_row_q8_K_ref: per 256 values iscale = -127/max (max = the value of largest magnitude), d = 1/iscale. */
function quantizeQ8_K(x: Float32Array): Q8Blocks {
  const nb = x.length / 256;
  const d = new Float32Array(nb);
  const qs = new Int8Array(x.length);
  for (let b = 0; b < nb; b++) {
    let max = 0;
    let amax = 0;
    for (let j = 0; j < 256; j++) {
      const v = x[b * 256 + j]!;
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    if (amax === 0) continue;
    const iscale = fround(-127 / max);
    for (let j = 0; j < 256; j++) qs[b * 256 + j] = Math.min(127, fround(fround(iscale * x[b * 256 + j]!) + 12582912) - 12582912);
    d[b] = fround(1 / iscale);
  }
  return { d, qs };
}

/** ggml_vec_dot_q6_K_q8_K (generic order): per 16 values scale * (q6 · q8), accumulated in 8 float lanes. */
function dotQ6_K(w: Uint8Array, off: number, x: Q8Blocks, nb: number): number {
  const aux8 = new Int8Array(256);
  const sums = new Float32Array(8);
  const aux32 = new Int32Array(8);
  for (let b = 0; b < nb; b++) {
    const p = off + b * 210; // ql[128] qh[64] scales[16] d
    for (let half = 0; half < 2; half++) {
      const ql = p + 64 * half;
      const qh = p + 128 + 32 * half;
      const a = 128 * half;
      for (let l = 0; l < 32; l++) {
        const h = w[qh + l]!;
        aux8[a + l] = ((w[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
        aux8[a + l + 32] = ((w[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
        aux8[a + l + 64] = ((w[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
        aux8[a + l + 96] = ((w[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
      }
    }
    aux32.fill(0);
    for (let j = 0; j < 16; j++) {
      const scale = (w[p + 192 + j]! << 24) >> 24;
      for (let k = 0; k < 16; k += 8) {
        for (let l = 0; l < 8; l++) aux32[l]! += scale * (x.qs[b * 256 + j * 16 + k + l]! * aux8[j * 16 + k + l]!);
      }
    }
    const d = fround(f16ToF32(w[p + 208]! | (w[p + 209]! << 8)) * x.d[b]!);
    for (let l = 0; l < 8; l++) sums[l] = fround(sums[l]! + fround(d * aux32[l]!));
  }
  let sumf = 0;
  for (let l = 0; l < 8; l++) sumf = fround(sumf + sums[l]!);
  return sumf;
}
