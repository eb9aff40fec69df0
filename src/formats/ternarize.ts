// Float weights -> ternary: the per-tensor absmean rule of BitNet b1.58 (spec 3.1), used for bf16 master
// weights ("online" quantization) and for float GGUF tensors. Also collapses per-block ternary scales to
// one per-tensor scale when they agree, which is what bitnet.cpp's integer epilogue needs.
import type { TernaryPlain } from './quants/codec.js';

/**
 * absmean ternarization as bitnet.cpp's converter computes it in float32:
 * s = 1 / max(mean|W|, 1e-5), q = clamp(RNE(W * s), -1, 1), alpha = 1 / s.
 * The mean is accumulated in float64 and rounded once to float32.
 */
export function ternarizeAbsmean(w: Float32Array): TernaryPlain {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += Math.abs(w[i]!);
  const mean = Math.max(Math.fround(sum / w.length), Math.fround(1e-5));
  const s = Math.fround(1 / mean);
  const values = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) {
    const x = Math.fround(w[i]! * s);
    // clamp(RNE(x), -1, 1): |x| <= 0.5 rounds to 0 (0.5 is a tie that goes to even 0)
    values[i] = x > 0.5 ? 1 : x < -0.5 ? -1 : 0;
  }
  return { values, scales: new Float32Array([Math.fround(1 / s)]), scaleBlock: w.length };
}

/** Float tensor -> ternary: exact when every value is 0 or +-a for a single a, absmean otherwise. */
export function ternaryFromFloat(w: Float32Array): { plain: TernaryPlain; exact: boolean } {
  let a = 0;
  let exact = true;
  for (let i = 0; i < w.length; i++) {
    const m = Math.abs(w[i]!);
    if (m === 0) continue;
    if (a === 0) a = m;
    else if (m !== a) {
      exact = false;
      break;
    }
  }
  if (!exact) return { plain: ternarizeAbsmean(w), exact: false };
  const values = new Int8Array(w.length);
  for (let i = 0; i < w.length; i++) values[i] = Math.sign(w[i]!);
  return { plain: { values, scales: new Float32Array([a]), scaleBlock: w.length }, exact: true };
}

/** Whether values[start, end) holds a nonzero weight. */
export function hasNonzero(values: Int8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (values[i] !== 0) return true;
  return false;
}

/** Per-tensor scale when every block that has a nonzero weight carries the same scale; undefined otherwise. */
export function uniformScale(t: TernaryPlain): number | undefined {
  if (t.scales.length === 1) return t.scales[0]!;
  let scale: number | undefined;
  const { values, scales, scaleBlock } = t;
  for (let b = 0; b < scales.length; b++) {
    if (!hasNonzero(values, b * scaleBlock, Math.min(values.length, (b + 1) * scaleBlock))) continue;
    if (scale === undefined) scale = scales[b]!;
    else if (scales[b] !== scale) return undefined;
  }
  return scale ?? 0;
}
