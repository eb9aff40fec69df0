// KV cache storage: per layer, rows of K (after RoPE) and V for positions 0..n-1, in f16 (bitnet.cpp's
// default) or f32. Grows on demand up to the context size so short runs stay small. The sequence policy
// (prefix reuse, context limits) lives in generate/.
import { BitnetError } from '../errors.js';
import type { KvLayer } from '../kernels/backend.js';

export type KvType = 'f16' | 'f32';

export class KvCache {
  readonly layers: KvLayer[] = [];
  private capacity = 0;
  /** number of positions currently holding valid entries */
  length = 0;

  constructor(
    readonly nLayer: number,
    /** K/V row width: nHeadKv * headDim */
    readonly width: number,
    /** maximum positions (the context size) */
    readonly nCtx: number,
    readonly type: KvType,
  ) {
    for (let l = 0; l < nLayer; l++) this.layers.push({ k: this.alloc(0), v: this.alloc(0) });
  }

  private alloc(n: number): Float32Array | Uint16Array {
    return this.type === 'f16' ? new Uint16Array(n * this.width) : new Float32Array(n * this.width);
  }

  /** Makes room for positions [0, n). */
  reserve(n: number): void {
    if (n > this.nCtx) {
      throw new BitnetError('CONTEXT_OVERFLOW', `needs ${n} positions but the context size is ${this.nCtx}`);
    }
    if (n <= this.capacity) return;
    const cap = Math.min(this.nCtx, Math.max(n, this.capacity * 2, 64));
    for (const layer of this.layers) {
      const k = this.alloc(cap);
      const v = this.alloc(cap);
      k.set(layer.k.subarray(0, this.length * this.width) as never);
      v.set(layer.v.subarray(0, this.length * this.width) as never);
      layer.k = k;
      layer.v = v;
    }
    this.capacity = cap;
  }

  /** Forgets positions >= n (prefix reuse). */
  truncate(n: number): void {
    this.length = Math.min(this.length, n);
  }

  bytes(): number {
    return this.layers.reduce((a, l) => a + l.k.byteLength + l.v.byteLength, 0);
  }
}
