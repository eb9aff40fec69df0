// The KV cache of one sequence: backend-owned storage for K (after RoPE) and V of positions 0..length-1,
// each in f16 (bitnet.cpp's default), f32, q8_0 or q4_0 (llama.cpp's -ctk / -ctv), growing on demand up to
// the context size; shift() drops a span and re-rotates the keys after it (context shift). The sequence
// policy (prefix reuse, context limits, when to shift) lives in generate/.
import { BitnetError } from '../errors.js';
import type { Backend, KvLayer, KvShiftRope, KvStorage, KvType, KvTypes } from '../kernels/backend.js';

export type { KvType, KvTypes } from '../kernels/backend.js';
import { kvBytesPerValue } from '../kernels/backend.js';
export { KV_TYPES, kvBytesPerValue } from '../kernels/backend.js';

/** 'f16', or 'q8_0/f16' when K and V differ (K first), for reports. */
export function kvTypesName(t: KvTypes): string {
  return t.k === t.v ? t.k : `${t.k}/${t.v}`;
}

/** Bytes one position takes in a cache of these types: K and V rows of every layer. */
export function kvBytesPerPosition(t: KvTypes, nLayer: number, nHeadKv: number, headDim: number): number {
  return nLayer * nHeadKv * headDim * (kvBytesPerValue(t.k) + kvBytesPerValue(t.v));
}

/** The K/V types an option names: one type for both, or a pair. */
export function kvTypesOf(t: KvType | KvTypes): KvTypes {
  return typeof t === 'string' ? { k: t, v: t } : { k: t.k, v: t.v };
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
    readonly types: KvTypes,
  ) {
    this.storage = backend.createKv(nLayer, nHeadKv, headDim, nCtx, types);
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
    if (src.nLayer !== this.nLayer || src.types.k !== this.types.k || src.types.v !== this.types.v) throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
    this.reserve(n);
    this.storage.copyFrom(src.storage, n);
    this.length = n;
  }

  /** Forgets positions >= n (prefix reuse). */
  truncate(n: number): void {
    this.length = Math.min(this.length, n);
  }

  /**
   * Context shift: drops positions [keep, keep + discard) and moves the rest down by `discard`, their keys
   * rotated by `rope` (the RoPE of position -discard: model/forward.ts shiftKv builds it).
   */
  shift(keep: number, discard: number, rope: KvShiftRope): void {
    this.storage.shift(keep, discard, this.length, rope);
    this.length -= discard;
  }

  /** Bytes the cache holds now: what the backend has allocated or touched, growing with use up to capacityBytes. */
  bytes(): number {
    return this.storage.bytes();
  }

  /** Bytes of K and V per position, over all layers. */
  get bytesPerPosition(): number {
    return kvBytesPerPosition(this.types, this.nLayer, this.nHeadKv, this.headDim);
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
