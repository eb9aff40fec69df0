// A small reference of quantized KV cache numerics (issue 21's definition, the reference backend's once it
// has them): ggml's quantize_row_q8_0_ref / q4_0_ref blocks of 32, and causal GQA attention over a cache of
// any K/V type pair: integer block dots against a q8_0 query for q8_0/q4_0 K, float32 dots in order for
// f32/f16 K (Q rounded to f16 for f16 K), ggml's softmax, P·V over keys in order (P rounded to f16 for f16
// V with one query), quantized V dequantized as fround(q * d).
import type { KvType } from '../../../src/kernels/backend.js';
import { expf } from '../../../src/kernels/math.js';
import { f16ToF32, f32ToF16, roundF16 } from '../../../src/util/f16.js';

const fround = Math.fround;

/** One block of 32: the f16 scale's bits and the 32 values q (q4_0: the code - 8, in [-8, 7]). */
export interface Block {
  d: number;
  q: Int8Array;
}

/** C's roundf: to nearest, ties away from zero (exact for float32 inputs). */
const roundf = (v: number): number => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);

/** quantize_row_q8_0_ref on x[off .. off + 32). */
export function quantizeQ8(x: ArrayLike<number>, off: number): Block {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[off + j]!));
  const d = fround(amax / 127);
  const id = d ? fround(1 / d) : 0;
  const q = new Int8Array(32);
  for (let j = 0; j < 32; j++) q[j] = roundf(fround(x[off + j]! * id));
  return { d: f32ToF16(d), q };
}

/** quantize_row_q4_0_ref on x[off .. off + 32); q holds code - 8. */
export function quantizeQ4(x: ArrayLike<number>, off: number): Block {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[off + j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = fround(max / -8);
  const id = d ? fround(1 / d) : 0;
  const q = new Int8Array(32);
  for (let j = 0; j < 32; j++) q[j] = Math.min(15, Math.trunc(fround(fround(x[off + j]! * id) + 8.5))) - 8;
  return { d: f32ToF16(d), q };
}

/** ggml's bytes of a block: block_q8_0 (d, 32 x int8) or block_q4_0 (d, 16 bytes of two codes each). */
export function blockBytes(type: 'q8_0' | 'q4_0', b: Block): Uint8Array {
  const out = new Uint8Array(type === 'q8_0' ? 34 : 18);
  out[0] = b.d & 0xff;
  out[1] = b.d >> 8;
  if (type === 'q8_0') out.set(new Uint8Array(b.q.buffer), 2);
  else for (let j = 0; j < 16; j++) out[2 + j] = (b.q[j]! + 8) | ((b.q[j + 16]! + 8) << 4);
  return out;
}

/** One tensor (K or V) of a one-layer reference cache: rows of width values, stored in `type`. */
export class RefKvTensor {
  /** f32/f16: the stored values as f32; quantized: per row, its blocks */
  private readonly vals: Float32Array;
  private readonly blocks: Block[][] = [];

  constructor(
    readonly type: KvType,
    readonly width: number,
    nCtx: number,
  ) {
    this.vals = new Float32Array(nCtx * width);
  }

  store(x: Float32Array, T: number, pos0: number): void {
    for (let t = 0; t < T; t++) {
      const row = x.subarray(t * this.width, (t + 1) * this.width);
      if (this.type === 'f32' || this.type === 'f16') {
        this.vals.set(this.type === 'f16' ? row.map(roundF16) : row, (pos0 + t) * this.width);
      } else {
        const quant = this.type === 'q8_0' ? quantizeQ8 : quantizeQ4;
        this.blocks[pos0 + t] = Array.from({ length: this.width / 32 }, (_, b) => quant(row, 32 * b));
      }
    }
  }

  block(pos: number, b: number): Block {
    return this.blocks[pos]![b]!;
  }

  /** The float value of element e of row pos (quantized: fround(q * d), exact). */
  at(pos: number, e: number): number {
    if (this.type === 'f32' || this.type === 'f16') return this.vals[pos * this.width + e]!;
    const b = this.blocks[pos]![e >> 5]!;
    return fround(b.q[e & 31]! * f16ToF32(b.d));
  }
}

export interface RefAttention {
  T: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  pos0: number;
  scale: number;
}

export function attentionKvRef(q: Float32Array, K: RefKvTensor, V: RefKvTensor, out: Float32Array, p: RefAttention): void {
  const { T, nHead, nHeadKv, headDim, pos0, scale } = p;
  const group = nHead / nHeadKv;
  const quantK = K.type === 'q8_0' || K.type === 'q4_0';
  const nbh = headDim / 32;
  const probs = new Float32Array(pos0 + T);
  const acc = new Float32Array(headDim);
  for (let t = 0; t < T; t++) {
    const nVisible = pos0 + t + 1;
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      const qOff = (t * nHead + h) * headDim;
      const qh = q.subarray(qOff, qOff + headDim);
      const qBlocks = quantK ? Array.from({ length: nbh }, (_, b) => quantizeQ8(qh, 32 * b)) : [];
      let max = -Infinity;
      for (let j = 0; j < nVisible; j++) {
        let dot = 0;
        if (quantK) {
          for (let b = 0; b < nbh; b++) {
            const kb = K.block(j, g * nbh + b);
            const qb = qBlocks[b]!;
            let sumi = 0;
            for (let i = 0; i < 32; i++) sumi += kb.q[i]! * qb.q[i]!;
            dot = fround(dot + fround(sumi * fround(f16ToF32(kb.d) * f16ToF32(qb.d))));
          }
        } else {
          for (let d = 0; d < headDim; d++) {
            const qd = K.type === 'f16' ? roundF16(qh[d]!) : qh[d]!;
            dot = fround(dot + fround(qd * K.at(j, g * headDim + d)));
          }
        }
        const s = fround(dot * scale);
        probs[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < nVisible; j++) {
        const e = expf(fround(probs[j]! - max));
        probs[j] = e;
        sum += e;
      }
      const inv = fround(1 / sum);
      for (let j = 0; j < nVisible; j++) {
        const pj = fround(probs[j]! * inv);
        probs[j] = V.type === 'f16' && T === 1 ? roundF16(pj) : pj;
      }
      acc.fill(0);
      for (let j = 0; j < nVisible; j++) {
        for (let d = 0; d < headDim; d++) acc[d] = fround(acc[d]! + fround(probs[j]! * V.at(j, g * headDim + d)));
      }
      out.set(acc, qOff);
    }
  }
}
