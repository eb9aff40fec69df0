// Reference float ops of the forward pass, in float32 (Math.fround after every operation) and in a fixed
// order that SIMD kernels reproduce exactly: ggml's rms_norm (float squares summed in double), RoPE from
// the shared cos/sin table, f32/f16/q8_0/q4_0 KV storage and its context shift, attention with Q rounded to f16 (and P when T == 1)
// as ggml's F16 matmul does or Q quantized to q8_0 for ggml's integer block dots, dots summed in float32 in
// index order, softmax sums in double, and the shared expf.
import { BitnetError } from '../../errors.js';
import { f32ToF16, halfTableF32, roundF16 } from '../../util/f16.js';
import { q4_0Codec } from '../../formats/quants/q4_0.js';
import { q8_0Codec } from '../../formats/quants/q8_0.js';
import { checkKvTypes, type AttentionParams, type KvLayer, type KvShiftRope, type KvStorage, type KvType, type KvTypes, type RopeParams } from '../backend.js';
import { expf } from '../math.js';

const fround = Math.fround;

export function rmsNormRef(x: Float32Array, T: number, n: number, eps: number, weight: Float32Array, out: Float32Array): void {
  const epsF = fround(eps);
  for (let t = 0; t < T; t++) {
    const row = t * n;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = x[row + i]!;
      sum += fround(v * v);
    }
    const mean = fround(sum / n);
    const scale = fround(1 / fround(Math.sqrt(fround(mean + epsF))));
    for (let i = 0; i < n; i++) out[row + i] = fround(fround(x[row + i]! * scale) * weight[i]!);
  }
}

export function ropeRef(x: Float32Array, p: RopeParams): void {
  const half = p.nRot / 2;
  for (let t = 0; t < p.T; t++) {
    const tab = t * p.nRot;
    for (let h = 0; h < p.nHead; h++) {
      const base = (t * p.nHead + h) * p.headDim;
      for (let i = 0; i < half; i++) {
        const c = p.table[tab + 2 * i]!;
        const s = p.table[tab + 2 * i + 1]!;
        const i0 = p.style === 'neox' ? base + i : base + 2 * i;
        const i1 = p.style === 'neox' ? base + i + half : base + 2 * i + 1;
        const x0 = x[i0]!;
        const x1 = x[i1]!;
        x[i0] = fround(fround(x0 * c) - fround(x1 * s));
        x[i1] = fround(fround(x0 * s) + fround(x1 * c));
      }
    }
  }
}

/**
 * One layer of the reference KV cache: rows [pos][nHeadKv * headDim] of K (after RoPE) and V, as f32, f16 bits,
 * or (q8_0 / q4_0) the bytes of the row's 32-element ggml blocks, rowBytes apart.
 */
interface RefKvLayer {
  k: KvRows;
  v: KvRows;
  width: number;
  types: KvTypes;
}
export type KvRows = Float32Array | Uint16Array | Uint8Array;

const codecs = { q8_0: q8_0Codec, q4_0: q4_0Codec } as const;

/** Bytes of one stored row of `width` values (a whole number of blocks for the block types). */
export function kvRowBytes(t: KvType, width: number): number {
  return t === 'f32' ? 4 * width : t === 'f16' ? 2 * width : (width / 32) * codecs[t].typeSize;
}

function allocRows(t: KvType, rows: number, width: number): KvRows {
  if (t === 'f32') return new Float32Array(rows * width);
  if (t === 'f16') return new Uint16Array(rows * width);
  return new Uint8Array(rows * kvRowBytes(t, width));
}

export function createKvRef(nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage {
  checkKvTypes(types, headDim);
  const width = nHeadKv * headDim;
  const t = { k: types.k, v: types.v };
  const layers: RefKvLayer[] = Array.from({ length: nLayer }, () => ({ k: allocRows(t.k, 0, width), v: allocRows(t.v, 0, width), width, types: t }));
  let capacity = 0;
  return {
    layers,
    reserve(n) {
      if (n <= capacity) return;
      // grow geometrically so a long generation does not copy the cache at every token
      const cap = Math.min(nCtx, Math.max(n, capacity * 2, 64));
      for (const l of layers) {
        const k = allocRows(t.k, cap, width);
        const v = allocRows(t.v, cap, width);
        k.set(l.k as never);
        v.set(l.v as never);
        l.k = k;
        l.v = v;
      }
      capacity = cap;
    },
    copyFrom(src, n) {
      const from = src.layers as RefKvLayer[];
      if (from.length !== layers.length || from[0]?.width !== width || from[0].types.k !== t.k || from[0].types.v !== t.v) {
        throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
      }
      const kn = n * (kvRowBytes(t.k, width) / layers[0]!.k.BYTES_PER_ELEMENT);
      const vn = n * (kvRowBytes(t.v, width) / layers[0]!.v.BYTES_PER_ELEMENT);
      layers.forEach((l, i) => {
        l.k.set(from[i]!.k.subarray(0, kn) as never);
        l.v.set(from[i]!.v.subarray(0, vn) as never);
      });
    },
    shift(keep, discard, n, rope) {
      checkKvShift(keep, discard, n, capacity);
      for (const l of layers) shiftKvRows(l.types, l.k, l.v, nHeadKv, headDim, keep, discard, n, rope);
    },
    bytes: () => layers.reduce((a, l) => a + l.k.byteLength + l.v.byteLength, 0),
    free() {
      for (const l of layers) {
        l.k = allocRows(t.k, 0, width);
        l.v = allocRows(t.v, 0, width);
      }
      capacity = 0;
    },
  };
}

function storeRows(type: KvType, dst: KvRows, x: Float32Array, T: number, pos0: number, width: number): void {
  const n = T * width;
  if (type === 'f32') (dst as Float32Array).set(x.subarray(0, n), pos0 * width);
  else if (type === 'f16') for (let i = 0; i < n; i++) (dst as Uint16Array)[pos0 * width + i] = f32ToF16(x[i]!);
  // each row's blocks, as ggml's quantize_row_*_ref writes them (a row is a whole number of blocks)
  else (dst as Uint8Array).set(codecs[type].quantize(x.subarray(0, n)), pos0 * kvRowBytes(type, width));
}

/** Throws unless keep, discard and n describe a context shift within `capacity` positions. */
export function checkKvShift(keep: number, discard: number, n: number, capacity: number): void {
  const ok = [keep, discard, n].every((x) => Number.isInteger(x) && x >= 0) && keep + discard <= n && n <= capacity;
  if (!ok) throw new BitnetError('INVALID_ARGUMENT', `cannot shift: keep ${keep}, discard ${discard} of ${n} positions (capacity ${capacity})`, { name: 'kv' });
}

/** Row `pos` of a K or V side as f32 values (f16 widened, q8_0 / q4_0 dequantized: exact). */
export function readKvRow(type: KvType, rows: KvRows, pos: number, width: number, out: Float32Array): void {
  if (type === 'f32') out.set((rows as Float32Array).subarray(pos * width, (pos + 1) * width));
  else if (type === 'f16') {
    const half = halfTableF32();
    for (let i = 0; i < width; i++) out[i] = half[(rows as Uint16Array)[pos * width + i]!]!;
  } else {
    const rb = kvRowBytes(type, width);
    codecs[type].dequantize((rows as Uint8Array).subarray(pos * rb, (pos + 1) * rb), width, out);
  }
}

/**
 * The context shift of one layer's rows, the definition the other backends match: each moved K row widened
 * to f32 (dequantized for q8_0 / q4_0), rotated by ropeRef (one token, nHeadKv heads) with the delta's table,
 * stored in the cache type (requantized as kvStore quantizes); V rows move as they are. Also the WASM
 * backend's quantized caches, whose rows are these bytes.
 */
export function shiftKvRows(types: KvTypes, k: KvRows, v: KvRows, nHeadKv: number, headDim: number, keep: number, discard: number, n: number, rope: KvShiftRope): void {
  const w = nHeadKv * headDim;
  const row = new Float32Array(w);
  const p: RopeParams = { T: 1, nHead: nHeadKv, headDim, nRot: rope.nRot, style: rope.style, table: rope.table };
  for (let pos = keep + discard; pos < n; pos++) {
    readKvRow(types.k, k, pos, w, row);
    ropeRef(row, p);
    storeRows(types.k, k, row, 1, pos - discard, w);
  }
  const ve = kvRowBytes(types.v, w) / v.BYTES_PER_ELEMENT; // elements per V row
  v.copyWithin(keep * ve, (keep + discard) * ve, n * ve);
}

export function kvStoreRef(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, pos0: number): void {
  const l = layer as RefKvLayer;
  storeRows(l.types.k, l.k, k, T, pos0, l.width);
  storeRows(l.types.v, l.v, v, T, pos0, l.width);
}

/** The f16 value of block `b`'s scale at byte offset `o` of a block row. */
function blockD(bytes: Uint8Array, o: number): number {
  return halfTableF32()[bytes[o]! | (bytes[o + 1]! << 8)]!;
}

/**
 * Attention over the cache, the definition every backend reproduces:
 * - scores: f32/f16 K: Q·K summed in float32 over d in order (Q rounded to f16 when K is f16, as ggml converts
 *   src1 for the F16 matmul); q8_0/q4_0 K: Q's head row is quantized to q8_0 blocks (quantize_row_q8_0_ref, ggml's
 *   vec_dot_type for both) and the dot is ggml_vec_dot_q8_0_q8_0 / q4_0_q8_0: per block in order, sumi = the exact
 *   integer dot of the 32 pairs (q4_0: (nibble - 8) * q8), sumf = fround(sumf + fround(sumi * fround(dk * dq)));
 *   then score = fround(dot * scale).
 * - softmax as ggml_soft_max (max, expf(x - max), sum in double, times fround(1 / sum)).
 * - P·V: acc[d] = fround(acc[d] + fround(p * v)) over keys in order, v the stored value (f16 widened, q8_0 / q4_0
 *   dequantized: fround(q * d), exact); P rounded to f16 only when V is f16 and T == 1 (ggml's F16 matmul).
 */
export function attentionRef(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void {
  const { T, nHead, nHeadKv, headDim, pos0, scale } = p;
  const l = layer as RefKvLayer;
  const kt = l.types.k;
  const vt = l.types.v;
  const width = nHeadKv * headDim;
  const group = nHead / nHeadKv;
  const half = halfTableF32();
  const kRow = kvRowBytes(kt, width);
  const vRow = kvRowBytes(vt, width);
  const kQuant = kt === 'q8_0' || kt === 'q4_0';
  const kBlock = kQuant ? codecs[kt].typeSize : 0;
  const kb = l.k as Uint8Array;
  const vb = l.v as Uint8Array;
  const qh = new Float32Array(headDim);
  let qq: Uint8Array = new Uint8Array(0);
  const probs = new Float32Array(pos0 + T);
  const acc = new Float32Array(headDim);
  const vrow = new Float32Array(headDim);
  for (let t = 0; t < T; t++) {
    const nVisible = pos0 + t + 1; // causal: keys 0..pos
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      const qOff = (t * nHead + h) * headDim;
      if (kQuant) qq = q8_0Codec.quantize(q.subarray(qOff, qOff + headDim));
      else for (let d = 0; d < headDim; d++) qh[d] = kt === 'f16' ? roundF16(q[qOff + d]!) : q[qOff + d]!;
      // scores, then softmax as ggml_soft_max (max, expf(x - max), 1/sum)
      let max = -Infinity;
      for (let j = 0; j < nVisible; j++) {
        let dot = 0;
        if (kt === 'f32') {
          const kOff = j * width + g * headDim;
          for (let d = 0; d < headDim; d++) dot = fround(dot + fround(qh[d]! * (l.k as Float32Array)[kOff + d]!));
        } else if (kt === 'f16') {
          const kOff = j * width + g * headDim;
          for (let d = 0; d < headDim; d++) dot = fround(dot + fround(qh[d]! * half[(l.k as Uint16Array)[kOff + d]!]!));
        } else {
          const kOff = j * kRow + ((g * headDim) / 32) * kBlock;
          for (let b = 0; b < headDim / 32; b++) {
            const ko = kOff + b * kBlock;
            const qo = b * 34;
            let sumi = 0;
            if (kt === 'q8_0') {
              for (let i = 0; i < 32; i++) sumi += ((kb[ko + 2 + i]! << 24) >> 24) * ((qq[qo + 2 + i]! << 24) >> 24);
            } else {
              for (let i = 0; i < 16; i++) {
                const x = kb[ko + 2 + i]!;
                sumi += ((x & 15) - 8) * ((qq[qo + 2 + i]! << 24) >> 24) + ((x >> 4) - 8) * ((qq[qo + 18 + i]! << 24) >> 24);
              }
            }
            dot = fround(dot + fround(sumi * fround(blockD(kb, ko) * blockD(qq, qo))));
          }
        }
        const s = fround(dot * scale);
        probs[j] = s;
        if (s > max) max = s;
      }
      let sum = 0; // double, as ggml's ggml_float
      for (let j = 0; j < nVisible; j++) {
        const e = expf(fround(probs[j]! - max));
        probs[j] = e;
        sum += e;
      }
      const inv = fround(1 / sum);
      for (let j = 0; j < nVisible; j++) {
        const pj = fround(probs[j]! * inv);
        probs[j] = vt === 'f16' && T === 1 ? roundF16(pj) : pj;
      }
      // P·V summed in float32 over keys, in order
      acc.fill(0);
      for (let j = 0; j < nVisible; j++) {
        const pj = probs[j]!;
        if (vt === 'f32' || vt === 'f16') {
          const vOff = j * width + g * headDim;
          if (vt === 'f32') for (let d = 0; d < headDim; d++) vrow[d] = (l.v as Float32Array)[vOff + d]!;
          else for (let d = 0; d < headDim; d++) vrow[d] = half[(l.v as Uint16Array)[vOff + d]!]!;
        } else {
          codecs[vt].dequantize(vb.subarray(j * vRow + ((g * headDim) / 32) * codecs[vt].typeSize), headDim, vrow);
        }
        for (let d = 0; d < headDim; d++) acc[d] = fround(acc[d]! + fround(pj * vrow[d]!));
      }
      out.set(acc, qOff);
    }
  }
}

export function gatedActRef(gate: Float32Array, up: Float32Array, n: number, act: 'relu2' | 'silu'): void {
  if (act === 'relu2') {
    for (let i = 0; i < n; i++) {
      const g = gate[i]! > 0 ? gate[i]! : 0;
      gate[i] = fround(fround(g * g) * up[i]!);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const g = gate[i]!;
      gate[i] = fround(fround(g / fround(1 + expf(-g))) * up[i]!);
    }
  }
}

export function addRef(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = fround(x[i]! + y[i]!);
}

export function scaleRef(x: Float32Array, n: number, s: number): void {
  const sf = fround(s); // a one-element f32 tensor in ggml
  for (let i = 0; i < n; i++) x[i] = fround(x[i]! * sf);
}
