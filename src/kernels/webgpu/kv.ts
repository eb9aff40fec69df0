// The WebGPU backend's KV cache: one buffer per layer for K and one for V, each in its own type (f32, f16, or
// rows of ggml q8_0/q4_0 blocks, wgsl-kv.ts), grown on demand by copying, copied between caches (prefix
// sharing) with buffer copies queued like the other ops, shifted (context shift); and the KV store and
// attention dispatches over it.
import { BitnetError } from '../../errors.js';
import { KV_TYPES, type AttentionParams, type KvLayer, type KvShiftRope, type KvStorage, type KvType, type KvTypes, type RopeParams } from '../backend.js';
import { checkKvShift } from '../ref/ops.js';
import { USAGE, type Recorder } from './device.js';
import * as K from './wgsl-kernels.js';
import { attention, isQuantKv, kvDequant, kvRowWords, kvStore } from './wgsl-kv.js';
import { kvShift } from './wgsl-kv-shift.js';

export interface GpuKvLayer {
  k: GPUBuffer;
  v: GPUBuffer;
  width: number;
  kType: KvType;
  vType: KvType;
}

/** What the KV code needs of the backend: its recorder and its pooled buffers. */
export interface KvHost {
  readonly rec: Recorder;
  alloc(bytes: number): GPUBuffer;
  release(b: GPUBuffer): void;
  /** a 16-byte buffer bound in place of a freed one */
  readonly dummy: GPUBuffer;
  /** most bytes per buffer binding */
  readonly maxBinding: number;
  /** backend buffers and ops for the quantized context shift: f32 rows, where they live, RoPE over them */
  allocF32(n: number): Float32Array;
  free(x: Float32Array): void;
  at(x: Float32Array): [GPUBuffer, number];
  rope(x: Float32Array, p: RopeParams): void;
}

const ceilTo = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Bytes of `pos` positions of one tensor (f16: halves run on across rows; quantized: whole-word rows). */
function tensorBytes(type: KvType, width: number, pos: number): number {
  if (type === 'f32') return pos * width * 4;
  if (type === 'f16') return ceilTo(pos * width, 2) * 2;
  return pos * kvRowWords(type, width) * 4;
}

export function createGpuKv(host: KvHost, nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage {
  for (const t of [types.k, types.v]) {
    if (!KV_TYPES.includes(t)) throw new BitnetError('INVALID_ARGUMENT', `unknown KV cache type ${String(t)} (${KV_TYPES.join(', ')})`, { name: 'kv' });
    if (isQuantKv(t) && headDim % 32 !== 0) throw new BitnetError('INVALID_ARGUMENT', `a ${t} KV cache needs a head size that is a multiple of 32, got ${headDim}`, { name: 'kv' });
  }
  const width = nHeadKv * headDim;
  const { k: kType, v: vType } = types;
  const kBytes = (pos: number): number => tensorBytes(kType, width, pos);
  const vBytes = (pos: number): number => tensorBytes(vType, width, pos);
  const layers: GpuKvLayer[] = Array.from({ length: nLayer }, () => ({ k: host.alloc(16), v: host.alloc(16), width, kType, vType }));
  let capacity = 0;
  return {
    layers,
    reserve: (n) => {
      if (n <= capacity) return;
      const cap = Math.min(nCtx, Math.max(n, capacity * 2, 64));
      for (const l of layers) {
        const k = host.alloc(kBytes(cap));
        const v = host.alloc(vBytes(cap));
        if (capacity > 0) {
          host.rec.copy(l.k, 0, k, 0, ceilTo(kBytes(capacity), 4));
          host.rec.copy(l.v, 0, v, 0, ceilTo(vBytes(capacity), 4));
        }
        host.release(l.k);
        host.release(l.v);
        l.k = k;
        l.v = v;
      }
      capacity = cap;
    },
    copyFrom: (src, n) => {
      const from = src.layers as GpuKvLayer[];
      if (from.length !== nLayer || from[0]?.width !== width || from[0].kType !== kType || from[0].vType !== vType) {
        throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
      }
      // rows [pos][...] in both: one buffer copy per tensor, queued with the other ops
      const kb = Math.min(ceilTo(kBytes(n), 4), from[0].k.size, layers[0]!.k.size);
      const vb = Math.min(ceilTo(vBytes(n), 4), from[0].v.size, layers[0]!.v.size);
      layers.forEach((l, i) => {
        if (kb > 0) host.rec.copy(from[i]!.k, 0, l.k, 0, kb);
        if (vb > 0) host.rec.copy(from[i]!.v, 0, l.v, 0, vb);
      });
    },
    shift: (keep, discard, n, rope) => {
      checkKvShift(keep, discard, n, capacity);
      if (n - keep - discard === 0 || discard === 0) return;
      for (const l of layers) shiftLayer(host, l, headDim, keep, discard, n, rope, Math.max(kBytes(n), vBytes(n)));
    },
    bytes: () => nLayer * (kBytes(capacity) + vBytes(capacity)),
    free: () => {
      for (const l of layers) {
        host.release(l.k);
        host.release(l.v);
        l.k = l.v = host.dummy;
      }
      capacity = 0;
    },
  };
}

/**
 * One layer's context shift, as the reference defines it. Float tensors: wgsl-kv-shift.ts over a copy of the
 * positions [0, n) (moves overlap). A quantized K: the moved rows dequantized to f32 (exact), rotated by
 * the RoPE kernel with the delta's table and stored (quantized) at their new positions; a quantized V: the
 * moved rows dequantized and stored again, which gives back their bytes (ggml's q8_0 / q4_0 quantization of
 * dequantized blocks is the identity).
 */
function shiftLayer(host: KvHost, l: GpuKvLayer, headDim: number, keep: number, discard: number, n: number, rope: KvShiftRope, bytes: number): void {
  const { rec } = host;
  const width = l.width;
  const m = n - keep - discard;
  if (isQuantKv(l.kType) || isQuantKv(l.vType)) {
    const k = host.allocF32(m * width);
    const v = host.allocF32(m * width);
    try {
      for (const [type, buf, x] of [[l.kType, l.k, k], [l.vType, l.v, v]] as const) dequantRows(host, type, buf, width, keep + discard, m, x);
      const table = new Float32Array(m * rope.nRot);
      for (let t = 0; t < m; t++) table.set(rope.table.subarray(0, rope.nRot), t * rope.nRot);
      host.rope(k, { T: m, nHead: width / headDim, headDim, nRot: rope.nRot, style: rope.style, table });
      kvStoreGpu(rec, l, host.at(k), host.at(v), m, keep);
    } finally {
      host.free(k);
      host.free(v);
    }
    return;
  }
  const scratch = host.alloc(Math.ceil(bytes / 4) * 4);
  const table = rec.createFilled(rope.table, USAGE.STORAGE);
  for (const [buf, rotate, f16] of [[l.k, 1, l.kType === 'f16'], [l.v, 0, l.vType === 'f16']] as const) {
    rec.copy(buf, 0, scratch, 0, Math.ceil((f16 ? n * width * 2 : n * width * 4) / 4) * 4);
    const params = [keep * width, (n - discard) * width, discard * width, width, headDim, rope.nRot, rope.style === 'neox' ? 1 : 0, rotate];
    const items = f16 ? Math.ceil(((n - discard) * width) / 2) - Math.floor((keep * width) / 2) : m * width;
    const [gx, gy] = grid(items);
    rec.dispatch(`kv-shift-${f16}`, () => kvShift(f16), 'uuuuuuuu', params, [buf, scratch, table], gx, gy);
  }
  host.release(scratch);
  rec.destroyLater(table);
}

/** Rows [row0, row0 + T) of one tensor as f32 values into x [T, width] (a backend buffer). */
function dequantRows(host: KvHost, type: KvType, buf: GPUBuffer, width: number, row0: number, T: number, x: Float32Array): void {
  const [xb, xOff] = host.at(x);
  const [gx, gy] = grid(T * width);
  host.rec.dispatch(`kv-dequant-${type}`, () => kvDequant(type), 'uuuuu', [xOff, row0, T, width, isQuantKv(type) ? kvRowWords(type, width) : 0], [buf, xb], gx, gy);
}

/** Workgroups (x, y) for `items` threads of 64, x at most 65535. */
function grid(items: number): [number, number] {
  const groups = Math.ceil(items / 64);
  const gx = Math.min(groups, 65535);
  return [gx, Math.ceil(groups / gx)];
}

/** Stores rows of one tensor of the cache. */
function storeTensor(rec: Recorder, type: KvType, dstBuf: GPUBuffer, src: GPUBuffer, srcOff: number, width: number, T: number, pos0: number): void {
  if (isQuantKv(type)) {
    const pairs = Math.ceil(width / 64);
    const [gx, gy] = grid(T * pairs);
    rec.dispatch(`kv-store1-${type}`, () => kvStore(type), 'uuuuuu', [srcOff, pos0, T, width, kvRowWords(type, width), pairs], [dstBuf, src], gx, gy);
    return;
  }
  const dst = pos0 * width;
  const n = T * width;
  const [gx, gy] = grid(type === 'f16' ? Math.ceil((dst + n) / 2) - Math.floor(dst / 2) : n);
  rec.dispatch(`kv-store1-${type}`, () => kvStore(type), 'uuu', [srcOff, dst, n], [dstBuf, src], gx, gy);
}

/** Stores rows of K and V [T, width] (GPU buffers at element offsets) at positions pos0.. */
export function kvStoreGpu(rec: Recorder, layer: KvLayer, [kb, kOff]: [GPUBuffer, number], [vb, vOff]: [GPUBuffer, number], T: number, pos0: number): void {
  const l = layer as GpuKvLayer;
  if (l.kType !== l.vType || isQuantKv(l.kType)) {
    storeTensor(rec, l.kType, l.k, kb, kOff, l.width, T, pos0);
    storeTensor(rec, l.vType, l.v, vb, vOff, l.width, T, pos0);
    return;
  }
  // one float type for both: K and V in one dispatch
  const f16 = l.kType === 'f16';
  const dst = pos0 * l.width;
  const n = T * l.width;
  const [gx, gy] = grid(f16 ? Math.ceil((dst + n) / 2) - Math.floor(dst / 2) : n);
  const key = f16 ? 'kv-store-f16' : 'kv-store-f32';
  rec.dispatch(key, () => (f16 ? K.KV_STORE_F16 : K.KV_STORE_F32), 'uuuu', [kOff, vOff, dst, n], [l.k, l.v, kb, vb], gx, gy);
}

/** Causal GQA attention of queries (a GPU buffer at an element offset) over the cache into `out`. */
export function attentionGpu(host: KvHost, [qb, qOff]: [GPUBuffer, number], layer: KvLayer, [ob, oOff]: [GPUBuffer, number], p: AttentionParams): void {
  const l = layer as GpuKvLayer;
  if (p.headDim > 256) throw new BitnetError('INVALID_ARGUMENT', `WebGPU attention supports head sizes up to 256, got ${p.headDim}`, { name: 'headDim' });
  if (p.kv.k !== l.kType || p.kv.v !== l.vType) {
    throw new BitnetError('INVALID_ARGUMENT', `attention over a ${l.kType}/${l.vType} KV cache asked for ${p.kv.k}/${p.kv.v}`, { name: 'kv' });
  }
  const stride = p.pos0 + p.T;
  // queries in blocks whose score rows fit one binding (and one dispatch dimension)
  const block = Math.max(1, Math.min(p.T, 65535, Math.floor(host.maxBinding / (p.nHead * stride * 4))));
  const scratch = host.alloc(block * p.nHead * stride * 4);
  const roundP = l.vType === 'f16' && p.T === 1 ? 1 : 0; // ggml rounds P to f16 only in single-token decode
  const kRow = isQuantKv(l.kType) ? kvRowWords(l.kType, l.width) : 0;
  const vRow = isQuantKv(l.vType) ? kvRowWords(l.vType, l.width) : 0;
  const row = p.nHead * p.headDim;
  for (let t0 = 0; t0 < p.T; t0 += block) {
    const T = Math.min(block, p.T - t0);
    const params = [qOff + t0 * row, oOff + t0 * row, p.nHead, p.nHead / p.nHeadKv, p.headDim, p.pos0 + t0, l.width, stride, roundP, p.scale, kRow, vRow];
    host.rec.dispatch(`attention-${l.kType}-${l.vType}`, () => attention(l.kType, l.vType), 'uuuuuuuuufuu', params, [qb, l.k, l.v, ob, scratch], p.nHead, T);
  }
  host.release(scratch);
}
