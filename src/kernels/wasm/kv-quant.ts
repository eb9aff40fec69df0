// The WASM backend's KV caches with a q8_0 / q4_0 K or V (the other of any type): rows of ggml blocks in device
// memory, byte for byte the reference cache's rows, and attention in three passes over shared score rows, as
// the f16/f32 cache does: asm/attention-q.ts's kvq_scores (Q·K on the integer block dots, or float rows), attention.ts's
// attn_softmax, then kvq_pv. The same numbers as kernels/ref/ops.ts attentionRef, bit for bit.
import { BitnetError } from '../../errors.js';
import type { AttentionParams, KvLayer, KvStorage, KvType, KvTypes } from '../backend.js';
import { checkKvShift, kvRowBytes, shiftKvRows, type KvRows } from '../ref/ops.js';
import type { Device } from './device.js';
import { OP_ATT_SOFTMAX, OP_KVQ_PV, OP_KVQ_SCORES } from './jobs.js';

/** What the quantized cache needs of its backend (WasmBackend's allocator and thread rules). */
export interface KvQuantHost {
  d: Device;
  threads: number;
  alloc(bytes: number): number;
  release(p: number): void;
  ptr(v: ArrayBufferView): number;
  /** threads for an op of `work` multiply-adds */
  par(work: number): number;
  /** most bytes of score rows one query block may use */
  blockBytes: number;
}

interface QuantLayerShape {
  nHeadKv: number;
  headDim: number;
  kType: number;
  vType: number;
}

interface QuantLayer {
  k: number;
  v: number;
  /** an f16 V holds an inf or NaN: P·V widens it exactly (else the fast widening) */
  vSpecial: boolean;
}

/** asm/attention-q.ts's type codes */
const TYPE_CODE: Record<KvType, number> = { f32: 0, f16: 1, q8_0: 2, q4_0: 3 };
/** positions per scores item */
const SCORE_CHUNK = 256;

export class WasmKvQuant {
  private readonly shapes = new WeakMap<object, QuantLayerShape>();

  constructor(private readonly host: KvQuantHost) {}

  owns(layer: KvLayer): boolean {
    return this.shapes.has(layer);
  }

  /** A cache whose K or V is q8_0 or q4_0 (the caller checked the types against the head size). */
  create(nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage {
    const width = nHeadKv * headDim;
    const kRow = kvRowBytes(types.k, width);
    const vRow = kvRowBytes(types.v, width);
    const shape: QuantLayerShape = { nHeadKv, headDim, kType: TYPE_CODE[types.k], vType: TYPE_CODE[types.v] };
    // the whole context up front: pages the cache has not touched yet cost no physical memory
    const layers: QuantLayer[] = [];
    for (let l = 0; l < nLayer; l++) {
      const layer = { k: this.host.alloc(nCtx * kRow + 16), v: this.host.alloc(nCtx * vRow + 16), vSpecial: false };
      this.shapes.set(layer, shape);
      layers.push(layer);
    }
    const heap = this.host.d.heap;
    // positions ever reserved: what the cache has touched (bytes() reports it, not the whole range)
    let reserved = 0;
    return {
      layers,
      reserve: (n) => {
        reserved = Math.max(reserved, n);
      },
      copyFrom: (src, n) => {
        const from = src.layers as QuantLayer[];
        const s = from[0] && this.shapes.get(from[0]);
        if (from.length !== nLayer || !s || s.nHeadKv !== nHeadKv || s.headDim !== headDim || s.kType !== shape.kType || s.vType !== shape.vType) {
          throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
        }
        const u8 = heap.u8(0, heap.buffer.byteLength);
        layers.forEach((l, i) => {
          u8.copyWithin(l.k, from[i]!.k, from[i]!.k + n * kRow);
          u8.copyWithin(l.v, from[i]!.v, from[i]!.v + n * vRow);
          l.vSpecial = from[i]!.vSpecial; // a set flag only selects the exact widening: the source's is always safe
        });
      },
      shift: (keep, discard, n, rope) => {
        checkKvShift(keep, discard, n, nCtx);
        // the rows are the reference cache's bytes: its shift over views of them
        const view = (t: KvType, p: number): KvRows => (t === 'f32' ? heap.f32(p, n * width) : t === 'f16' ? heap.u16(p, n * width) : heap.u8(p, n * kvRowBytes(t, width)));
        for (const l of layers) shiftKvRows(types, view(types.k, l.k), view(types.v, l.v), nHeadKv, headDim, keep, discard, n, rope);
      },
      bytes: () => nLayer * reserved * (kRow + vRow),
      free: () => {
        for (const l of layers) {
          this.host.release(l.k);
          this.host.release(l.v);
        }
        layers.length = 0;
        reserved = 0;
      },
    };
  }

  store(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, pos0: number): void {
    const l = layer as QuantLayer;
    const s = this.shapes.get(layer)!;
    const width = s.nHeadKv * s.headDim;
    const kx = this.host.d.k;
    kx.kvq_store(l.k, this.host.ptr(k), T, pos0, width, s.kType);
    if (kx.kvq_store(l.v, this.host.ptr(v), T, pos0, width, s.vType)) l.vSpecial = true;
  }

  attention(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void {
    const l = layer as QuantLayer;
    const s = this.shapes.get(layer)!;
    const { pool } = this.host.d;
    const threads = this.host.threads;
    const group = p.nHead / p.nHeadKv;
    const stride = Math.ceil((p.pos0 + p.T) / 8) * 32;
    const qBlock = Math.max(1, Math.min(p.T, Math.floor(this.host.blockBytes / (p.nHead * stride))));
    // per thread: the query group's q8_0 blocks, their scales and sums
    const scratchBytes = Math.ceil(this.host.d.k.kvq_scratch_bytes(group, p.headDim) / 16) * 16;
    const probs = this.host.alloc(qBlock * p.nHead * stride + scratchBytes * threads);
    const scratch = probs + qBlock * p.nHead * stride;
    const rowBytes = p.nHead * p.headDim * 4;
    const roundP = s.vType === TYPE_CODE.f16 && p.T === 1 ? 1 : 0; // ggml rounds P to f16 only for an f16 V in decode
    // a multiply-add per (query, head, position, dim) in each of the two passes, the integer one cheaper
    const par = this.host.par(4 * p.T * p.nHead * p.headDim * (p.pos0 + p.T));
    try {
      for (let t0 = 0; t0 < p.T; t0 += qBlock) {
        const T = Math.min(qBlock, p.T - t0);
        const pos0 = p.pos0 + t0;
        const qp = this.host.ptr(q) + t0 * rowBytes;
        const op = this.host.ptr(out) + t0 * rowBytes;
        const nChunks = Math.ceil((pos0 + T) / SCORE_CHUNK);
        pool.run(OP_KVQ_SCORES, T * p.nHeadKv * nChunks, 1, par, [
          qp, l.k, s.kType, p.nHead, p.nHeadKv, p.headDim, pos0, T, { f32: p.scale }, probs, stride, SCORE_CHUNK, scratch, scratchBytes,
        ]);
        pool.run(OP_ATT_SOFTMAX, T * p.nHead, 4, par, [probs, stride, p.nHead, pos0, roundP, { f32: 1 }]);
        const vType = s.vType === TYPE_CODE.f16 && !l.vSpecial ? 4 : s.vType; // 4: f16 without inf / NaN
        pool.run(OP_KVQ_PV, (T * p.nHeadKv * p.headDim) / 8, 1, par, [probs, stride, l.v, vType, op, p.nHead, p.nHeadKv, p.headDim, pos0]);
      }
    } finally {
      this.host.release(probs);
    }
  }
}
