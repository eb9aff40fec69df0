// Reference float ops of the forward pass, in float32 (Math.fround after every operation) and in a fixed
// order that SIMD kernels reproduce exactly: ggml's rms_norm (float squares summed in double), RoPE from
// the shared cos/sin table, f16 KV storage, attention with Q rounded to f16 (and P when T == 1) as ggml's
// F16 matmul does, dots summed in float32 in index order, softmax sums in double, and the shared expf.
import { BitnetError } from '../../errors.js';
import { f32ToF16, halfTableF32, roundF16 } from '../../util/f16.js';
import type { AttentionParams, KvLayer, KvStorage, KvTypes, RopeParams } from '../backend.js';
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

/** One layer of the reference KV cache: rows [pos][nHeadKv * headDim] of K (after RoPE) and V. */
interface RefKvLayer {
  k: Float32Array | Uint16Array;
  v: Float32Array | Uint16Array;
  width: number;
}

export function createKvRef(nLayer: number, nHeadKv: number, headDim: number, nCtx: number, types: KvTypes): KvStorage {
  const type = types.k;
  if (types.v !== type || (type !== 'f16' && type !== 'f32')) throw new BitnetError('INVALID_ARGUMENT', `the reference backend has no ${types.k}/${types.v} KV cache`, { name: 'kv' });
  const width = nHeadKv * headDim;
  const alloc = (n: number) => (type === 'f16' ? new Uint16Array(n * width) : new Float32Array(n * width));
  const layers: RefKvLayer[] = Array.from({ length: nLayer }, () => ({ k: alloc(0), v: alloc(0), width }));
  let capacity = 0;
  return {
    layers,
    reserve(n) {
      if (n <= capacity) return;
      // grow geometrically so a long generation does not copy the cache at every token
      const cap = Math.min(nCtx, Math.max(n, capacity * 2, 64));
      for (const l of layers) {
        const k = alloc(cap);
        const v = alloc(cap);
        k.set(l.k as never);
        v.set(l.v as never);
        l.k = k;
        l.v = v;
      }
      capacity = cap;
    },
    copyFrom(src, n) {
      const from = src.layers as RefKvLayer[];
      if (from.length !== layers.length || from[0]?.width !== width || !(from[0].k instanceof (type === 'f16' ? Uint16Array : Float32Array))) {
        throw new BitnetError('INVALID_ARGUMENT', 'KV caches of different shapes or types', { name: 'kv' });
      }
      layers.forEach((l, i) => {
        l.k.set(from[i]!.k.subarray(0, n * width) as never);
        l.v.set(from[i]!.v.subarray(0, n * width) as never);
      });
    },
    bytes: () => layers.reduce((a, l) => a + l.k.byteLength + l.v.byteLength, 0),
    free() {
      for (const l of layers) l.k = l.v = alloc(0);
      capacity = 0;
    },
  };
}

export function kvStoreRef(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, pos0: number): void {
  const l = layer as RefKvLayer;
  const off = pos0 * l.width;
  const n = T * l.width;
  if (l.k instanceof Float32Array) {
    l.k.set(k.subarray(0, n), off);
    (l.v as Float32Array).set(v.subarray(0, n), off);
    return;
  }
  const lv = l.v as Uint16Array;
  for (let i = 0; i < n; i++) {
    l.k[off + i] = f32ToF16(k[i]!);
    lv[off + i] = f32ToF16(v[i]!);
  }
}

export function attentionRef(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void {
  const { T, nHead, nHeadKv, headDim, pos0, scale } = p;
  const f16 = p.kv.k === 'f16';
  const l = layer as RefKvLayer;
  const width = nHeadKv * headDim;
  const group = nHead / nHeadKv;
  const half = halfTableF32();
  const kf = l.k instanceof Float32Array ? l.k : undefined;
  const vf = l.v instanceof Float32Array ? l.v : undefined;
  const k16 = l.k as Uint16Array;
  const v16 = l.v as Uint16Array;
  const qh = new Float32Array(headDim);
  const probs = new Float32Array(pos0 + T);
  const acc = new Float32Array(headDim);
  for (let t = 0; t < T; t++) {
    const nVisible = pos0 + t + 1; // causal: keys 0..pos
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      const qOff = (t * nHead + h) * headDim;
      for (let d = 0; d < headDim; d++) qh[d] = f16 ? roundF16(q[qOff + d]!) : q[qOff + d]!;
      // scores: Q·K summed in float32 over d, times scale; softmax as ggml_soft_max (max, expf(x - max), 1/sum)
      let max = -Infinity;
      for (let j = 0; j < nVisible; j++) {
        const kOff = j * width + g * headDim;
        let dot = 0;
        if (kf) for (let d = 0; d < headDim; d++) dot = fround(dot + fround(qh[d]! * kf[kOff + d]!));
        else for (let d = 0; d < headDim; d++) dot = fround(dot + fround(qh[d]! * half[k16[kOff + d]!]!));
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
        probs[j] = f16 && T === 1 ? roundF16(pj) : pj;
      }
      // P·V summed in float32 over keys, in order
      acc.fill(0);
      for (let j = 0; j < nVisible; j++) {
        const pj = probs[j]!;
        const vOff = j * width + g * headDim;
        if (vf) for (let d = 0; d < headDim; d++) acc[d] = fround(acc[d]! + fround(pj * vf[vOff + d]!));
        else for (let d = 0; d < headDim; d++) acc[d] = fround(acc[d]! + fround(pj * half[v16[vOff + d]!]!));
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
