// Embeddings from the final hidden states (after output_norm, before the lm_head): llama.cpp's pooling
// types over a sequence's rows, accumulated chunk by chunk as prompt batches are evaluated, and the L2
// normalisation llama-server applies by default (common_embd_normalize with norm 2).
import { BitnetError } from '../errors.js';

/** llama.cpp's pooling_type names; 'none' keeps every position's row. */
export type Pooling = 'mean' | 'last' | 'cls' | 'none';

export const POOLINGS: readonly Pooling[] = ['mean', 'last', 'cls', 'none'];

/**
 * GGUF `<arch>.pooling_type` (llama.cpp's enum llama_pooling_type) -> our name. 4 (rank) needs a classifier
 * head this engine does not load, and -1 means unspecified: both map to undefined.
 */
export function poolingFromGguf(v: number): Pooling | undefined {
  return ({ 0: 'none', 1: 'mean', 2: 'cls', 3: 'last' } as Record<number, Pooling>)[v];
}

export function checkPooling(p: string): Pooling {
  if (!(POOLINGS as readonly string[]).includes(p)) throw new BitnetError('INVALID_ARGUMENT', `unknown pooling "${p}" (one of ${POOLINGS.join(', ')})`, { name: 'pooling' });
  return p as Pooling;
}

/**
 * Pools rows [nTokens, nEmbd] fed in order, chunk by chunk: mean (summed in float64), the first row (cls),
 * the last row, or all rows (none). result() gives [nEmbd] ([nTokens, nEmbd] for none).
 */
export class Pooler {
  private readonly sum: Float64Array | undefined;
  private readonly out: Float32Array;
  private seen = 0;

  constructor(
    readonly pooling: Pooling,
    readonly nTokens: number,
    readonly nEmbd: number,
  ) {
    if (nTokens < 1) throw new BitnetError('INVALID_ARGUMENT', 'there are no tokens to embed', { name: 'input' });
    this.sum = pooling === 'mean' ? new Float64Array(nEmbd) : undefined;
    this.out = new Float32Array(pooling === 'none' ? nTokens * nEmbd : nEmbd);
  }

  /** Rows [count, nEmbd] of positions start .. start + count - 1. */
  add(rows: Float32Array, start: number, count: number): void {
    if (start !== this.seen) throw new BitnetError('INVALID_ARGUMENT', `rows from ${start} after ${this.seen}`, { name: 'rows' });
    const d = this.nEmbd;
    if (this.sum) {
      for (let r = 0; r < count; r++) for (let j = 0; j < d; j++) this.sum[j]! += rows[r * d + j]!;
    } else if (this.pooling === 'none') this.out.set(rows.subarray(0, count * d), start * d);
    else if (this.pooling === 'cls' && start === 0) this.out.set(rows.subarray(0, d));
    else if (this.pooling === 'last' && start + count === this.nTokens) this.out.set(rows.subarray((count - 1) * d, count * d));
    this.seen += count;
  }

  get complete(): boolean {
    return this.seen === this.nTokens;
  }

  /** The pooled vector(s), each L2-normalised when `normalize`. */
  result(normalize: boolean): Float32Array {
    if (!this.complete) throw new BitnetError('INVALID_ARGUMENT', `pooled ${this.seen} of ${this.nTokens} rows`, { name: 'rows' });
    if (this.sum) for (let j = 0; j < this.nEmbd; j++) this.out[j] = this.sum[j]! / this.nTokens;
    if (normalize) for (let o = 0; o < this.out.length; o += this.nEmbd) l2Normalize(this.out.subarray(o, o + this.nEmbd));
    return this.out;
  }
}

/** In place: v * (1 / ||v||) with the norm summed in float64 (a zero vector stays zero). */
export function l2Normalize(v: Float32Array): void {
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += v[i]! * v[i]!;
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
}
