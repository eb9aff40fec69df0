// Independent float64 reference forward pass for BitNet b1.58 (spec §2-§3); tests check the engine's logits against it.
// Written straight from the spec's equations; it deliberately shares no code with src/ and imports nothing at all.
// All float64, except BitLinear's per-token int8 activations (absmax, 1e-5 floor, RNE, clamp) and exact integer dot.
// Options emulate bitnet.cpp's f16 roundings (spec §0.1, §2.3): kvF16 (f16 K/V cache, f16 Q for Q·K) and
// singleTokenFrom (f16 activations in single-token steps). See README.md for what they cover and for tolerances.

export interface RefTernary { rows: number; cols: number; values: Int8Array /* {-1,0,1}, row-major [rows=out, cols=in] */; alpha: number }
export interface RefLayer {
  attnNorm: Float32Array; ffnNorm: Float32Array;
  attnSubNorm: Float32Array | null; // width nHead*headDim, applied to the attention output before wo
  ffnSubNorm: Float32Array | null; // width nFf, applied before wdown
  wq: RefTernary; wk: RefTernary; wv: RefTernary; wo: RefTernary;
  wgate: RefTernary; wup: RefTernary; wdown: RefTernary;
  /** Qwen3: per-head RMSNorm weights [headDim] of Q and K, applied after the projection and before RoPE */
  qNorm?: Float32Array; kNorm?: Float32Array;
  /** BitNet embedding models: every projection's input goes through an RMSNorm with its own weight first */
  inNorms?: { q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array; gate: Float32Array; up: Float32Array; down: Float32Array };
}
export interface RefModel {
  nEmbd: number; nFf: number; nHead: number; nHeadKv: number; headDim: number; nVocab: number;
  eps: number; ropeTheta: number;
  act: 'relu2' | 'silu'; // gate activation: relu(g)^2 (BitNet 2B4T) or silu(g) (llama-style / 2024 bitnet arch), times up
  embedding: Float32Array; // [nVocab, nEmbd] row-major, token-major
  output: Float32Array | null; // untied lm_head [nVocab, nEmbd]; null = tied to embedding
  outputNorm: Float32Array;
  layers: RefLayer[];
}
export interface RefOptions {
  /** Emulate bitnet.cpp's storage roundings named in spec 0.1/2.3: K and V rounded to f16 when cached, Q rounded to f16 for Q·K. Default false (pure float64). */
  kvF16?: boolean;
  /**
   * Positions t >= singleTokenFrom are computed as single-token (GEMV) steps, for which ggml rounds the activation of an
   * F16-weight matmul to f16 (spec 0.1): the softmax probabilities before P·V (only with kvF16, whose cache is F16) and
   * the final normed hidden state before the lm_head. E.g. prompt length P prefilled as one batch, then decode: P.
   * Default: none (every position as part of one multi-token batch, which keeps f32/f64 activations).
   */
  singleTokenFrom?: number;
  /** RoPE scaling as llama.cpp applies it (linear / YaRN, see ropeScaled64); default none */
  ropeScaling?: RefRopeScaling;
}

/** llama.cpp's RoPE scaling parameters (ggml_rope_ext's freq_scale, ext_factor, attn_factor, beta_fast/slow, n_ctx_orig). */
export interface RefRopeScaling { freqScale: number; extFactor: number; attnFactor: number; betaFast: number; betaSlow: number; origCtx: number }

/**
 * llama.cpp's scaled RoPE in float64 (ggml rope_yarn, rope_yarn_ramp, ggml_rope_yarn_corr_dims): YaRN's ramp runs
 * over pairs [low, high] = [floor(corr(betaFast)), ceil(corr(betaSlow))] clamped to [0, nRot - 1], with
 * corr(b) = nRot ln(origCtx / (2 pi b)) / (2 ln base); pair i's angle mixes pos*base^(-2i/nRot)/ff_i (extrapolated)
 * and freqScale times it (interpolated) by ramp*extFactor; cos and sin are multiplied by attnFactor, and by
 * 1 + 0.1 ln(1/freqScale) when extFactor != 0.
 */
export function ropeScaled64(nRot: number, base: number, s: RefRopeScaling): { dims: [number, number]; mscale: number; angle: (pos: number, i: number, ff?: number) => number } {
  const corr = (beta: number) => (nRot * Math.log(s.origCtx / (beta * 2 * Math.PI))) / (2 * Math.log(base));
  const dims: [number, number] = [Math.max(0, Math.floor(corr(s.betaFast))), Math.min(nRot - 1, Math.ceil(corr(s.betaSlow)))];
  const mscale = s.extFactor !== 0 ? s.attnFactor * (1 + 0.1 * Math.log(1 / s.freqScale)) : s.attnFactor;
  const angle = (pos: number, i: number, ff = 1): number => {
    const extrap = (pos * base ** ((-2 * i) / nRot)) / ff;
    const interp = s.freqScale * extrap;
    if (s.extFactor === 0) return interp;
    const mix = (1 - Math.min(1, Math.max(0, (i - dims[0]) / Math.max(0.001, dims[1] - dims[0])))) * s.extFactor;
    return interp * (1 - mix) + extrap * mix;
  };
  return { dims, mscale, angle };
}

/** Round to the nearest integer, ties to even (Math.round sends ties toward +Infinity, which is wrong here). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const frac = x - f; // exact for |x| < 2^52
  if (frac < 0.5) return f;
  if (frac > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Round a float64 to the nearest IEEE binary16 value (ties to even, subnormals, overflow to ±Infinity), returned as a number. */
export function roundToF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a)); // exponent of a, corrected below in case log2 is off by one near powers of two
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  const quantum = 2 ** (Math.max(e, -14) - 10); // 10 fraction bits; below 2^-14 the spacing stays 2^-24 (subnormals)
  const r = roundHalfEven(a / quantum) * quantum; // a / quantum is exact (power-of-two divisor)
  if (r > 65504) return x > 0 ? Infinity : -Infinity; // 65504 is the largest finite half
  return x > 0 ? r : -r;
}

/** Per-token int8 activation quantization (spec §3.2): gamma = max(max|x|, 1e-5), s = 127/gamma, xq = clamp(RNE(x*s), -128, 127). */
export function quantizeActivations(x: ArrayLike<number>): { xq: Int32Array; s: number } {
  let gamma = 1e-5;
  for (let k = 0; k < x.length; k++) gamma = Math.max(gamma, Math.abs(x[k]!));
  const s = 127 / gamma;
  const xq = new Int32Array(x.length);
  for (let k = 0; k < x.length; k++) xq[k] = Math.min(127, Math.max(-128, roundHalfEven(x[k]! * s)));
  return { xq, s };
}

/** BitLinear (spec §3.3): y[o] = (sum_k W[o,k] * xq[k]) * alpha / s. x: [cols] -> y: [rows]. */
export function bitLinear(x: ArrayLike<number>, w: RefTernary): Float64Array {
  if (x.length !== w.cols) throw new Error(`bitLinear: input width ${x.length} != cols ${w.cols}`);
  const { xq, s } = quantizeActivations(x);
  const y = new Float64Array(w.rows);
  for (let o = 0; o < w.rows; o++) {
    let dot = 0; // exact integer: |dot| <= 128 * cols
    for (let k = 0; k < w.cols; k++) dot += w.values[o * w.cols + k]! * xq[k]!;
    y[o] = (dot * w.alpha) / s;
  }
  return y;
}

/** RMSNorm (spec §2.1): y_i = w_i * x_i / sqrt(mean(x^2) + eps). */
export function rmsNorm(x: ArrayLike<number>, w: ArrayLike<number>, eps: number): Float64Array {
  let sumSq = 0;
  for (let i = 0; i < x.length; i++) sumSq += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(sumSq / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = w[i]! * x[i]! * scale;
  return y;
}

/**
 * Half-split (NeoX) RoPE (spec §2.2) on x: [nHeads*headDim]. Element i pairs with i + headDim/2, angle pos * theta^(-2i/headDim)
 * (or llama.cpp's scaled angle and magnitude, with `scaling`).
 */
export function ropeHalfSplit(x: ArrayLike<number>, nHeads: number, headDim: number, pos: number, theta: number, scaling?: RefRopeScaling): Float64Array {
  const half = headDim / 2;
  const y = Float64Array.from(x);
  const scaled = scaling ? ropeScaled64(headDim, theta, scaling) : undefined;
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = scaled ? scaled.angle(pos, i) : pos * theta ** (-(2 * i) / headDim);
      const m = scaled ? scaled.mscale : 1;
      const cos = m * Math.cos(angle), sin = m * Math.sin(angle);
      const x0 = x[h * headDim + i]!, x1 = x[h * headDim + i + half]!;
      y[h * headDim + i] = x0 * cos - x1 * sin;
      y[h * headDim + i + half] = x0 * sin + x1 * cos;
    }
  }
  return y;
}

/**
 * Causal GQA attention (spec §2.3). q: [T][nHead*headDim], k, v: [T][nHeadKv*headDim] (k after RoPE).
 * Query head h reads kv head floor(h / (nHead/nHeadKv)); scores scaled by 1/sqrt(headDim); softmax over keys 0..t.
 * With kvF16, K and V are rounded to f16 as if cached, and Q is rounded to f16 for Q·K; rows t >= singleTokenFrom
 * also round the softmax probabilities to f16 before P·V (ggml's single-token F16 matmul). Returns [T][nHead*headDim].
 */
export function causalAttention(q: Float64Array[], k: Float64Array[], v: Float64Array[], nHead: number, nHeadKv: number, headDim: number, kvF16 = false, singleTokenFrom = Infinity): Float64Array[] {
  if (nHead % nHeadKv !== 0) throw new Error(`causalAttention: nHead ${nHead} not a multiple of nHeadKv ${nHeadKv}`);
  const r = kvF16 ? roundToF16 : (x: number) => x;
  const kc = k.map((row) => row.map(r)); // [T][nHeadKv*headDim], the "cache"
  const vc = v.map((row) => row.map(r)); // [T][nHeadKv*headDim]
  const group = nHead / nHeadKv;
  const scale = 1 / Math.sqrt(headDim);
  return q.map((qRow, t) => {
    const out = new Float64Array(nHead * headDim);
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / group);
      const scores = new Float64Array(t + 1); // [t+1]
      for (let j = 0; j <= t; j++) {
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += r(qRow[h * headDim + d]!) * kc[j]![kvh * headDim + d]!;
        scores[j] = dot * scale;
      }
      const max = Math.max(...scores);
      let sum = 0;
      for (let j = 0; j <= t; j++) sum += (scores[j] = Math.exp(scores[j]! - max));
      for (let j = 0; j <= t; j++) {
        const p = kvF16 && t >= singleTokenFrom ? roundToF16(scores[j]! / sum) : scores[j]! / sum;
        for (let d = 0; d < headDim; d++) out[h * headDim + d]! += p * vc[j]![kvh * headDim + d]!;
      }
    }
    return out;
  });
}

/** Gate activation times up: relu(g)^2 * u or silu(g) * u. */
function gatedAct(g: Float64Array, u: Float64Array, act: RefModel['act']): Float64Array {
  return g.map((gi, i) => (act === 'relu2' ? Math.max(gi, 0) ** 2 : gi / (1 + Math.exp(-gi))) * u[i]!);
}

/** RMSNorm of each head's slice of x ([nHeads*headDim]) with one weight [headDim]. */
function headNorm(x: Float64Array, w: ArrayLike<number>, headDim: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let h = 0; h < x.length / headDim; h++) y.set(rmsNorm(x.subarray(h * headDim, (h + 1) * headDim), w, eps), h * headDim);
  return y;
}

/** Logits for every position of `tokens` (causal, positions 0..T-1). Row t = logits after seeing tokens[0..t]. */
export function referenceLogits(model: RefModel, tokens: number[], opts: RefOptions = {}): Float64Array[] {
  const { nEmbd, nVocab } = model;
  const singleTokenFrom = opts.singleTokenFrom ?? Infinity;
  // final norm, then the full-precision lm_head: logits[v] = hn · E[v]
  const head = model.output ?? model.embedding; // [nVocab, nEmbd]
  return referenceHidden(model, tokens, opts).map((hn0, t) => {
    const hn = hn0.map((y) => (t >= singleTokenFrom ? roundToF16(y) : y)); // [nEmbd]
    const logits = new Float64Array(nVocab); // [nVocab]
    for (let tok = 0; tok < nVocab; tok++) {
      let dot = 0;
      for (let i = 0; i < nEmbd; i++) dot += hn[i]! * head[tok * nEmbd + i]!;
      logits[tok] = dot;
    }
    return logits;
  });
}

/** The final normed hidden state of every position (what the lm_head reads, and what embeddings pool). */
export function referenceHidden(model: RefModel, tokens: number[], opts: RefOptions = {}): Float64Array[] {
  const { nEmbd, nHead, nHeadKv, headDim, nVocab, eps } = model;
  const kvF16 = opts.kvF16 ?? false;
  const singleTokenFrom = opts.singleTokenFrom ?? Infinity;

  // h: [T][nEmbd] residual stream, starting from the embedding rows
  let h: Float64Array[] = tokens.map((tok) => {
    if (!Number.isInteger(tok) || tok < 0 || tok >= nVocab) throw new Error(`referenceLogits: token ${tok} out of range`);
    return Float64Array.from(model.embedding.subarray(tok * nEmbd, (tok + 1) * nEmbd));
  });

  for (const layer of model.layers) {
    const inNorms = layer.inNorms;
    // a projection's input: the block's normed input, or its own RMSNorm of it (BitNet embedding models)
    const input = (x: Float64Array, w: Float32Array | undefined): Float64Array => (w ? rmsNorm(x, w, eps) : x);
    const qkNorm = (x: Float64Array, w: Float32Array | undefined): Float64Array => (w ? headNorm(x, w, headDim, eps) : x);
    // --- attention block ---
    const a = h.map((x) => rmsNorm(x, layer.attnNorm, eps)); // [T][nEmbd]
    const q = a.map((x, pos) => ropeHalfSplit(qkNorm(bitLinear(input(x, inNorms?.q), layer.wq), layer.qNorm), nHead, headDim, pos, model.ropeTheta, opts.ropeScaling)); // [T][nHead*headDim]
    const k = a.map((x, pos) => ropeHalfSplit(qkNorm(bitLinear(input(x, inNorms?.k), layer.wk), layer.kNorm), nHeadKv, headDim, pos, model.ropeTheta, opts.ropeScaling)); // [T][nHeadKv*headDim]
    const v = a.map((x) => bitLinear(input(x, inNorms?.v), layer.wv)); // [T][nHeadKv*headDim]
    let o = causalAttention(q, k, v, nHead, nHeadKv, headDim, kvF16, singleTokenFrom); // [T][nHead*headDim]
    const attnSubNorm = layer.attnSubNorm;
    if (attnSubNorm) o = o.map((x) => rmsNorm(x, attnSubNorm, eps));
    h = h.map((x, t) => addVec(x, bitLinear(input(o[t]!, inNorms?.o), layer.wo))); // [T][nEmbd]

    // --- FFN block ---
    const f = h.map((x) => rmsNorm(x, layer.ffnNorm, eps)); // [T][nEmbd]
    let m = f.map((x) => gatedAct(bitLinear(input(x, inNorms?.gate), layer.wgate), bitLinear(input(x, inNorms?.up), layer.wup), model.act)); // [T][nFf]
    const ffnSubNorm = layer.ffnSubNorm;
    if (ffnSubNorm) m = m.map((x) => rmsNorm(x, ffnSubNorm, eps));
    h = h.map((x, t) => addVec(x, bitLinear(input(m[t]!, inNorms?.down), layer.wdown))); // [T][nEmbd]
  }
  return h.map((x) => rmsNorm(x, model.outputNorm, eps)); // [T][nEmbd]
}

function addVec(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((ai, i) => ai + b[i]!);
}
