// Float32 math every backend computes identically: expf (Cephes' polynomial after Cody-Waite range
// reduction, every step rounded to float32, no fused multiply-add), and the RoPE cos/sin table computed
// once per forward pass in ggml's order, with llama.cpp's linear and YaRN scaling (the backends only
// apply the table). The WASM kernels implement the same expf op for op (asm/math.ts).
const fround = Math.fround;

const LOG2E = fround(1.44269504088896341);
const LN2_HI = fround(0.693359375);
const LN2_LO = fround(-2.12194440e-4);
const P0 = fround(1.9875691500e-4);
const P1 = fround(1.3981999507e-3);
const P2 = fround(8.3334519073e-3);
const P3 = fround(4.1665795894e-2);
const P4 = fround(1.6666665459e-1);
const P5 = fround(5.0000001201e-1);
/** above this exp overflows float32; below the other it is 0 */
export const EXPF_MAX = fround(88.72283935546875);
export const EXPF_MIN = fround(-103.97208404541016);

/** e^x in float32, deterministic across JS and WASM (max error ~1 ulp). */
export function expf(x: number): number {
  if (x > EXPF_MAX) return Infinity;
  if (x < EXPF_MIN) return 0;
  if (x !== x) return NaN;
  const n = fround(fround(x * LOG2E) + 12582912) - 12582912; // round half to even (|x*log2e| < 2^22)
  let r = fround(x - fround(n * LN2_HI));
  r = fround(r - fround(n * LN2_LO));
  const r2 = fround(r * r);
  let p = P0;
  p = fround(fround(p * r) + P1);
  p = fround(fround(p * r) + P2);
  p = fround(fround(p * r) + P3);
  p = fround(fround(p * r) + P4);
  p = fround(fround(p * r) + P5);
  p = fround(fround(fround(p * r2) + r) + 1);
  // scale by 2^n in two exact steps so that subnormal results round once, like a single multiply would
  const n1 = n > 0 ? Math.min(n, 127) : Math.max(n, -126);
  return fround(fround(p * 2 ** n1) * 2 ** (n - n1));
}

/**
 * The resolved RoPE scaling parameters of ggml_rope_ext (model/rope-scaling.ts says where they come from).
 * Linear interpolation is freqScale < 1 with extFactor 0; YaRN mixes interpolated and extrapolated angles
 * per pair (extFactor > 0) and multiplies cos and sin by attnFactor * (1 + 0.1 ln(1/freqScale)).
 */
export interface RopeScaling {
  /** 1 / the context factor (0.25: 4x the original context) */
  freqScale: number;
  /** YaRN's extrapolation mix; 0: plain interpolation, no magnitude correction */
  extFactor: number;
  /** multiplies cos and sin */
  attnFactor: number;
  /** YaRN's correction range, in rotations over the original context */
  betaFast: number;
  betaSlow: number;
  /** the context RoPE was trained on (YaRN's correction dims) */
  origCtx: number;
}

/** No scaling: the table is plain RoPE. */
export const ROPE_UNSCALED: RopeScaling = { freqScale: 1, extFactor: 0, attnFactor: 1, betaFast: 32, betaSlow: 1, origCtx: 0 };

const logf = (x: number): number => fround(Math.log(x));
const PI_F = fround(Math.PI);
const TENTH_F = fround(0.1);
const RAMP_MIN_F = fround(0.001);

/** ggml_rope_yarn_corr_dim: the pair index at which nRotations turns fit in the original context, in float32. */
function yarnCorrDim(nDims: number, origCtx: number, nRotations: number, base: number): number {
  return fround(fround(nDims * logf(fround(origCtx / fround(fround(nRotations * 2) * PI_F)))) / fround(2 * logf(base)));
}

/** ggml_rope_yarn_corr_dims: [low, high] pairs of YaRN's ramp, floored/ceiled and clamped to [0, nDims - 1]. */
export function yarnCorrDims(nDims: number, origCtx: number, freqBase: number, betaFast: number, betaSlow: number): [number, number] {
  const start = Math.floor(yarnCorrDim(nDims, origCtx, betaFast, fround(freqBase)));
  const end = Math.ceil(yarnCorrDim(nDims, origCtx, betaSlow, fround(freqBase)));
  return [Math.max(0, start), Math.min(nDims - 1, end)];
}

/**
 * cos/sin per (position, pair) as ggml_rope_cache_init and rope_yarn compute them, every op in float32 (no
 * fused multiply-add): theta starts at the position and is multiplied by base^(-2/nRot) once per pair; a
 * freq factor divides it (theta_extrap); theta_interp = freqScale * theta_extrap; YaRN mixes the two with
 * rope_yarn_ramp * extFactor and scales the magnitude. Row t: [cos0, sin0, cos1, sin1, ...].
 * `rotationOnly`: the same angles with magnitude 1 (a context shift re-rotates keys that already carry it).
 */
export function ropeTable(pos0: number, T: number, nRot: number, freqBase: number, freqFactors: Float32Array | undefined, scaling: RopeScaling = ROPE_UNSCALED, rotationOnly = false): Float32Array {
  const thetaScale = fround(Math.pow(fround(freqBase), fround(-2 / nRot)));
  const half = nRot / 2;
  const table = new Float32Array(T * nRot);
  const freqScale = fround(scaling.freqScale);
  const ext = fround(scaling.extFactor);
  let mscale = fround(scaling.attnFactor);
  let low = 0;
  let span = 1;
  if (ext !== 0) {
    const [lo, hi] = yarnCorrDims(nRot, scaling.origCtx, freqBase, fround(scaling.betaFast), fround(scaling.betaSlow));
    low = lo;
    span = Math.max(RAMP_MIN_F, fround(hi - lo));
    mscale = fround(mscale * fround(1 + fround(TENTH_F * logf(fround(1 / freqScale)))));
  }
  if (rotationOnly) mscale = 1;
  // the ramp mix per pair is the same at every position
  const mix = new Float32Array(half);
  if (ext !== 0) for (let i = 0; i < half; i++) mix[i] = fround(fround(1 - Math.min(1, Math.max(0, fround(fround(i - low) / span)))) * ext);
  for (let t = 0; t < T; t++) {
    let theta = fround(pos0 + t);
    for (let i = 0; i < half; i++) {
      const extrap = freqFactors ? fround(theta / freqFactors[i]!) : theta;
      const interp = fround(freqScale * extrap);
      const m = mix[i]!;
      const th = ext !== 0 ? fround(fround(interp * fround(1 - m)) + fround(extrap * m)) : interp;
      table[t * nRot + 2 * i] = fround(fround(Math.cos(th)) * mscale);
      table[t * nRot + 2 * i + 1] = fround(fround(Math.sin(th)) * mscale);
      theta = fround(theta * thetaScale);
    }
  }
  return table;
}
