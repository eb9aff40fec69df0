// Float32 math every backend computes identically: expf (Cephes' polynomial after Cody-Waite range
// reduction, every step rounded to float32, no fused multiply-add), and the RoPE cos/sin table computed
// once per forward pass in ggml's order. The WASM kernels implement the same expf op for op (asm/math.ts).
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
 * cos/sin per (position, pair) as ggml_rope_cache_init computes them: theta starts at the position (a
 * float) and is multiplied by base^(-2/nRot) once per pair, in float32. Row t: [cos0, sin0, cos1, sin1, ...].
 */
export function ropeTable(pos0: number, T: number, nRot: number, freqBase: number, freqFactors: Float32Array | undefined): Float32Array {
  const thetaScale = fround(Math.pow(freqBase, fround(-2 / nRot)));
  const half = nRot / 2;
  const table = new Float32Array(T * nRot);
  for (let t = 0; t < T; t++) {
    let theta = fround(pos0 + t);
    for (let i = 0; i < half; i++) {
      const th = freqFactors ? fround(theta / freqFactors[i]!) : theta;
      table[t * nRot + 2 * i] = Math.cos(th);
      table[t * nRot + 2 * i + 1] = Math.sin(th);
      theta = fround(theta * thetaScale);
    }
  }
  return table;
}
