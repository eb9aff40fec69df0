// Forward and backward of every op the ternary trainer uses, on row-major float32 arrays: linear maps
// (y = x Wᵀ and its two gradients), BitLinear quantization (absmean ternary weights, per-token absmax int8
// activations, passed straight through in the backward pass), RMSNorm, NeoX RoPE, causal GQA attention,
// the squared-ReLU gate and softmax cross-entropy. Plain TypeScript, the reference for faster kernels;
// each backward is checked against finite differences in test/standalone/train/gradcheck.test.ts.
import { ternarizeAbsmean } from '../formats/ternarize.js';
import { quantizeActsRef } from '../kernels/ref/ternary.js';


/** y [T, N] = x [T, K] · wᵀ (w [N, K]). */
export function linear(x: Float32Array, w: Float32Array, T: number, K: number, N: number, y: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const wo = n * K;
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[xo + k]! * w[wo + k]!;
      y[t * N + n] = acc;
    }
  }
}

/** dx [T, K] (+)= dy [T, N] · w [N, K]. */
export function linearBackwardInput(dy: Float32Array, w: Float32Array, T: number, K: number, N: number, dx: Float32Array, accumulate: boolean): void {
  if (!accumulate) dx.fill(0, 0, T * K);
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const g = dy[t * N + n]!;
      if (g === 0) continue;
      const wo = n * K;
      for (let k = 0; k < K; k++) dx[xo + k]! += g * w[wo + k]!;
    }
  }
}

/** dw [N, K] += dyᵀ [N, T] · x [T, K]. */
export function linearBackwardWeight(dy: Float32Array, x: Float32Array, T: number, K: number, N: number, dw: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const xo = t * K;
    for (let n = 0; n < N; n++) {
      const g = dy[t * N + n]!;
      if (g === 0) continue;
      const wo = n * K;
      for (let k = 0; k < K; k++) dw[wo + k]! += g * x[xo + k]!;
    }
  }
}

/**
 * BitNet b1.58 weight quantization into `out`: absmean ternary values times their scale, exactly the codes
 * and scale the GGUF export writes (ternarizeAbsmean). Returns the scale.
 */
export function quantizeWeights(w: Float32Array, out: Float32Array): number {
  const t = ternarizeAbsmean(w);
  const alpha = t.scales[0]!;
  for (let i = 0; i < w.length; i++) out[i] = t.values[i]! * alpha;
  return alpha;
}

/**
 * Per-token absmax int8 activation quantization by the engine's own reference (quantize_row_i8_s:
 * s = 127 / max(|x|, 1e-5), round to nearest even, clamp to [-128, 127]), dequantized into `out` as q / s.
 */
export function quantizeActs(x: Float32Array, T: number, K: number, out: Float32Array): void {
  const acts = { q: new Int8Array(T * K), scale: new Float32Array(T), sum: new Int32Array(T), T, K };
  quantizeActsRef(x, acts);
  for (let t = 0; t < T; t++) {
    const s = acts.scale[t]!;
    for (let k = t * K; k < (t + 1) * K; k++) out[k] = acts.q[k]! / s;
  }
}

/** y [T, n] = x / sqrt(mean(x²) + eps) * w; keeps 1/rms per row in rstd for the backward pass. */
export function rmsNorm(x: Float32Array, w: Float32Array, T: number, n: number, eps: number, y: Float32Array, rstd: Float32Array): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[o + i]! * x[o + i]!;
    const r = 1 / Math.sqrt(ss / n + eps);
    rstd[t] = r;
    for (let i = 0; i < n; i++) y[o + i] = x[o + i]! * r * w[i]!;
  }
}

/** dx (+)= ∂L/∂x and dw += ∂L/∂w of rmsNorm, given dy. */
export function rmsNormBackward(dy: Float32Array, x: Float32Array, w: Float32Array, rstd: Float32Array, T: number, n: number, dx: Float32Array, dw: Float32Array, accumulate: boolean): void {
  for (let t = 0; t < T; t++) {
    const o = t * n;
    const r = rstd[t]!;
    let dot = 0; // Σ dy·w·x
    for (let i = 0; i < n; i++) {
      dot += dy[o + i]! * w[i]! * x[o + i]!;
      dw[i]! += dy[o + i]! * x[o + i]! * r;
    }
    const c = (dot * r * r * r) / n;
    for (let i = 0; i < n; i++) {
      const g = dy[o + i]! * w[i]! * r - x[o + i]! * c;
      dx[o + i] = accumulate ? dx[o + i]! + g : g;
    }
  }
}

/**
 * In-place NeoX rotary embedding of x [T, nHead * headDim] (pairs i, i + nRot/2) with the engine's
 * cos/sin table [T, nRot] (ropeTable); `inverse` rotates back, which is the backward pass.
 */
export function rope(x: Float32Array, T: number, nHead: number, headDim: number, nRot: number, table: Float32Array, inverse: boolean): void {
  const half = nRot / 2;
  const sign = inverse ? -1 : 1;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHead; h++) {
      const o = (t * nHead + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = table[t * nRot + 2 * i]!;
        const s = sign * table[t * nRot + 2 * i + 1]!;
        const a = x[o + i]!;
        const b = x[o + i + half]!;
        x[o + i] = a * c - b * s;
        x[o + i + half] = a * s + b * c;
      }
    }
  }
}

export interface AttentionShape {
  /** sequences in the batch, each of T positions starting at 0 */
  B: number;
  T: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
}

/**
 * Causal attention per sequence: out [B*T, nHead*hd] = softmax(q kᵀ / sqrt(hd)) v, heads sharing K/V in
 * groups (GQA). Keeps the probabilities [B, nHead, T, T] for the backward pass.
 */
export function attention(q: Float32Array, k: Float32Array, v: Float32Array, s: AttentionShape, out: Float32Array, probs: Float32Array): void {
  const { B, T, nHead, nHeadKv, headDim: hd } = s;
  const qDim = nHead * hd;
  const kvDim = nHeadKv * hd;
  const group = nHead / nHeadKv;
  const scale = 1 / Math.sqrt(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qDim + h * hd;
        const po = ((b * nHead + h) * T + t) * T;
        let max = -Infinity;
        for (let u = 0; u <= t; u++) {
          const ko = (b * T + u) * kvDim + g * hd;
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[qo + i]! * k[ko + i]!;
          probs[po + u] = dot * scale;
          if (dot * scale > max) max = dot * scale;
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) {
          const e = Math.exp(probs[po + u]! - max);
          probs[po + u] = e;
          sum += e;
        }
        for (let u = 0; u <= t; u++) probs[po + u]! /= sum;
        for (let u = t + 1; u < T; u++) probs[po + u] = 0;
        for (let i = 0; i < hd; i++) out[qo + i] = 0;
        for (let u = 0; u <= t; u++) {
          const p = probs[po + u]!;
          const vo = (b * T + u) * kvDim + g * hd;
          for (let i = 0; i < hd; i++) out[qo + i]! += p * v[vo + i]!;
        }
      }
    }
  }
}

/** Gradients of attention: dq, dk, dv (overwritten) from dout and the kept probabilities. */
export function attentionBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, s: AttentionShape, dq: Float32Array, dk: Float32Array, dv: Float32Array): void {
  const { B, T, nHead, nHeadKv, headDim: hd } = s;
  const qDim = nHead * hd;
  const kvDim = nHeadKv * hd;
  const group = nHead / nHeadKv;
  const scale = 1 / Math.sqrt(hd);
  dq.fill(0, 0, B * T * qDim);
  dk.fill(0, 0, B * T * kvDim);
  dv.fill(0, 0, B * T * kvDim);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * qDim + h * hd;
        const po = ((b * nHead + h) * T + t) * T;
        // dp[u] = dout_t · v_u; dv_u += p[t,u] dout_t
        let pdp = 0;
        for (let u = 0; u <= t; u++) {
          const vo = (b * T + u) * kvDim + g * hd;
          const p = probs[po + u]!;
          let d = 0;
          for (let i = 0; i < hd; i++) {
            d += dout[qo + i]! * v[vo + i]!;
            dv[vo + i]! += p * dout[qo + i]!;
          }
          dp[u] = d;
          pdp += p * d;
        }
        // softmax backward, then the scaled dot products
        for (let u = 0; u <= t; u++) {
          const ds = probs[po + u]! * (dp[u]! - pdp) * scale;
          if (ds === 0) continue;
          const ko = (b * T + u) * kvDim + g * hd;
          for (let i = 0; i < hd; i++) {
            dq[qo + i]! += ds * k[ko + i]!;
            dk[ko + i]! += ds * q[qo + i]!;
          }
        }
      }
    }
  }
}

/** h = relu(g)² · u (2B4T's gated squared ReLU), or silu(g) · u. */
export function gatedAct(g: Float32Array, u: Float32Array, n: number, act: 'relu2' | 'silu', h: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    const a = act === 'relu2' ? (x > 0 ? x * x : 0) : x / (1 + Math.exp(-x));
    h[i] = a * u[i]!;
  }
}

export function gatedActBackward(dh: Float32Array, g: Float32Array, u: Float32Array, n: number, act: 'relu2' | 'silu', dg: Float32Array, du: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const x = g[i]!;
    let a: number;
    let da: number;
    if (act === 'relu2') {
      a = x > 0 ? x * x : 0;
      da = x > 0 ? 2 * x : 0;
    } else {
      const sig = 1 / (1 + Math.exp(-x));
      a = x * sig;
      da = sig * (1 + x * (1 - sig));
    }
    dg[i] = dh[i]! * u[i]! * da;
    du[i] = dh[i]! * a;
  }
}

/**
 * Mean cross-entropy of logits [T, V] against targets (entries < 0 are ignored); writes ∂loss/∂logits
 * into dlogits (may alias logits). Returns the summed loss and the number of counted positions.
 */
export function crossEntropy(logits: Float32Array, targets: ArrayLike<number>, T: number, V: number, dlogits: Float32Array, normalizer: number): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let t = 0; t < T; t++) {
    const o = t * V;
    const target = targets[t]!;
    let max = -Infinity;
    for (let i = 0; i < V; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    // exponentials once, into dlogits (which may alias logits: the target's logit is read first)
    const lt = target >= 0 ? logits[o + target]! : 0;
    let z = 0;
    for (let i = 0; i < V; i++) {
      const e = Math.exp(logits[o + i]! - max);
      dlogits[o + i] = e;
      z += e;
    }
    if (target >= 0) {
      sum += Math.log(z) + max - lt;
      count++;
    }
    const k = target >= 0 ? 1 / (z * normalizer) : 0;
    for (let i = 0; i < V; i++) dlogits[o + i] = dlogits[o + i]! * k;
    if (target >= 0) dlogits[o + target] = dlogits[o + target]! - 1 / normalizer;
  }
  return { sum, count };
}
