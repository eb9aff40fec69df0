// Reference float ops of the forward pass, following ggml's CPU implementations in float32 (emulated with
// Math.fround): rms_norm (double sum of float squares), NeoX/normal RoPE with ggml's theta recurrence,
// f16 KV storage, soft_max, and attention with Q rounded to f16 (and P when T == 1) as ggml's F16 matmul
// does. Dot products accumulate in float64 where ggml's order depends on its SIMD width.
import { f32ToF16, halfTableF32, roundF16 } from '../../util/f16.js';
import type { AttentionParams, KvLayer, RopeParams } from '../backend.js';

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

/** cos/sin for pairs 0..headDim/2 at one position, as ggml_rope_cache_init computes them. */
function ropeCache(pos: number, p: RopeParams, cache: Float32Array): void {
  const thetaScale = fround(Math.pow(p.freqBase, fround(-2 / p.nRot)));
  let theta = fround(pos);
  for (let i = 0; i < p.headDim / 2; i++) {
    const ff = p.freqFactors ? p.freqFactors[i]! : 1;
    const th = fround(theta / ff);
    cache[2 * i] = fround(Math.cos(th));
    cache[2 * i + 1] = fround(Math.sin(th));
    theta = fround(theta * thetaScale);
  }
}

export function ropeRef(x: Float32Array, p: RopeParams): void {
  const cache = new Float32Array(p.headDim);
  const half = p.nRot / 2;
  for (let t = 0; t < p.T; t++) {
    ropeCache(p.pos0 + t, p, cache);
    for (let h = 0; h < p.nHead; h++) {
      const base = (t * p.nHead + h) * p.headDim;
      for (let i = 0; i < half; i++) {
        const c = cache[2 * i]!;
        const s = cache[2 * i + 1]!;
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

export function kvStoreRef(layer: KvLayer, k: Float32Array, v: Float32Array, T: number, width: number, pos0: number): void {
  const off = pos0 * width;
  if (layer.k instanceof Float32Array) {
    layer.k.set(k.subarray(0, T * width), off);
    (layer.v as Float32Array).set(v.subarray(0, T * width), off);
    return;
  }
  const lk = layer.k;
  const lv = layer.v as Uint16Array;
  for (let i = 0; i < T * width; i++) {
    lk[off + i] = f32ToF16(k[i]!);
    lv[off + i] = f32ToF16(v[i]!);
  }
}

export function attentionRef(q: Float32Array, layer: KvLayer, out: Float32Array, p: AttentionParams): void {
  const { T, nHead, nHeadKv, headDim, pos0, scale, f16 } = p;
  const width = nHeadKv * headDim;
  const group = nHead / nHeadKv;
  const half = halfTableF32();
  const kf = layer.k instanceof Float32Array ? layer.k : undefined;
  const vf = layer.v instanceof Float32Array ? layer.v : undefined;
  const k16 = layer.k as Uint16Array;
  const v16 = layer.v as Uint16Array;
  const nKv = pos0 + T;
  const qh = new Float64Array(headDim);
  const probs = new Float64Array(nKv);
  const acc = new Float64Array(headDim);
  for (let t = 0; t < T; t++) {
    const nVisible = pos0 + t + 1; // causal: keys 0..pos
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      const qOff = (t * nHead + h) * headDim;
      for (let d = 0; d < headDim; d++) qh[d] = f16 ? roundF16(q[qOff + d]!) : q[qOff + d]!;
      // scores: fround(Q·K) * scale, then softmax as ggml_soft_max (max, expf(x - max), 1/sum)
      let max = -Infinity;
      for (let j = 0; j < nVisible; j++) {
        const kOff = j * width + g * headDim;
        let dot = 0;
        if (kf) for (let d = 0; d < headDim; d++) dot += qh[d]! * kf[kOff + d]!;
        else for (let d = 0; d < headDim; d++) dot += qh[d]! * half[k16[kOff + d]!]!;
        const s = fround(fround(dot) * scale);
        probs[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < nVisible; j++) {
        const e = fround(Math.exp(fround(probs[j]! - max)));
        probs[j] = e;
        sum += e;
      }
      const inv = fround(1 / sum);
      for (let j = 0; j < nVisible; j++) {
        const pj = fround(probs[j]! * inv);
        probs[j] = f16 && T === 1 ? roundF16(pj) : pj;
      }
      acc.fill(0);
      for (let j = 0; j < nVisible; j++) {
        const pj = probs[j]!;
        const vOff = j * width + g * headDim;
        if (vf) for (let d = 0; d < headDim; d++) acc[d]! += pj * vf[vOff + d]!;
        else for (let d = 0; d < headDim; d++) acc[d]! += pj * half[v16[vOff + d]!]!;
      }
      for (let d = 0; d < headDim; d++) out[qOff + d] = fround(acc[d]!);
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
      gate[i] = fround(fround(g / fround(1 + fround(Math.exp(-g)))) * up[i]!);
    }
  }
}

export function addRef(x: Float32Array, y: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) x[i] = fround(x[i]! + y[i]!);
}

export function scaleRef(x: Float32Array, n: number, s: number): void {
  for (let i = 0; i < n; i++) x[i] = fround(x[i]! * s);
}
