// The KV cache of one sequence: backend-owned storage for K (after RoPE) and V of positions 0..length-1,
// in f16 (bitnet.cpp's default) or f32, growing on demand up to the context size. The sequence policy
// (prefix reuse, context limits) lives in generate/.
import { BitnetError } from '../errors.js';
import type { Backend, KvLayer, KvStorage } from '../kernels/backend.js';

export type KvType = 'f16' | 'f32';

/** Bytes one K or V value takes in a cache of this type. */
export function kvValueBytes(type: KvType): number {
  return type === 'f16' ? 2 : 4;
}

export class KvCache {
  private readonly storage: KvStorage;
  /** number of positions currently holding valid entries */
  length = 0;

  constructor(
    backend: Backend,
    readonly nLayer: number,
    readonly nHeadKv: number,
    readonly headDim: number,
    /** maximum positions (the context size) */
    readonly nCtx: number,
    readonly type: KvType,
  ) {
    this.storage = backend.createKv(nLayer, nHeadKv, headDim, nCtx, type);
  }

  get layers(): readonly KvLayer[] {
    return this.storage.layers;
  }

  /** Makes room for positions [0, n). */
  reserve(n: number): void {
    if (n > this.nCtx) throw new BitnetError('CONTEXT_OVERFLOW', `needs ${n} positions but the context size is ${this.nCtx}`);
    this.storage.reserve(n);
  }

  /**
   * Makes this cache hold positions [0, n) of `src` (a cache of the same backend and shape): n sequences that
   * share a prompt evaluate it once. Bit for bit the K/V `src` holds.
   */
  copyFrom(src: KvCache, n: number): void {
    if (src === this) {
      this.truncate(n);
      return;
    }
    if (n > src.length) throw new BitnetError('INVALID_ARGUMENT', `copies ${n} positions of a cache holding ${src.length}`, { name: 'kv' });
    if (src.nLayer !== this.nLayer || src.type !== this.type) throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
    this.reserve(n);
    this.storage.copyFrom(src.storage, n);
    this.length = n;
  }

  /** Forgets positions >= n (prefix reuse). */
  truncate(n: number): void {
    this.length = Math.min(this.length, n);
  }

  /** Bytes the cache holds now: what the backend has allocated or touched, growing with use up to capacityBytes. */
  bytes(): number {
    return this.storage.bytes();
  }

  /** Bytes of K and V per position, over all layers. */
  get bytesPerPosition(): number {
    return 2 * this.nLayer * this.nHeadKv * this.headDim * kvValueBytes(this.type);
  }

  /** Bytes the cache would hold with every position of the context in use. */
  capacityBytes(): number {
    return this.nCtx * this.bytesPerPosition;
  }

  free(): void {
    this.storage.free();
    this.length = 0;
  }
}
