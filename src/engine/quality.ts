// Quality measures over logits: perplexity of a token sequence (with its standard error, as
// llama-perplexity reports it) and the comparison of two models' distributions on the same positions
// (mean/max KL divergence, top-1 agreement). Used by the lm_head study and later `bitnet perplexity`.
import { argmax } from '../generate/sampler.js';
import type { BitnetModel } from './model.js';

/** log of the softmax normaliser of one row, in float64 (max-shifted). */
function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

export interface PerplexityResult {
  /** exp(mean negative log-likelihood) */
  ppl: number;
  /** mean negative log-likelihood in nats */
  nll: number;
  /** standard error of ppl (delta method on the mean nll) */
  pplStderr: number;
  /** positions scored */
  count: number;
}

/** Running sum of per-position negative log-likelihoods, and the perplexity they give. */
export class NllAccumulator {
  private sum = 0;
  private sumSq = 0;
  count = 0;

  /** Adds the NLL of `target` under the logits `row`. */
  add(row: Float32Array, target: number): void {
    const nll = logSumExp(row) - row[target]!;
    this.sum += nll;
    this.sumSq += nll * nll;
    this.count++;
  }

  result(): PerplexityResult {
    const n = this.count;
    if (n === 0) return { ppl: NaN, nll: NaN, pplStderr: NaN, count: 0 };
    const mean = this.sum / n;
    const variance = n > 1 ? Math.max(0, (this.sumSq / n - mean * mean) * (n / (n - 1))) : 0;
    const ppl = Math.exp(mean);
    return { ppl, nll: mean, pplStderr: ppl * Math.sqrt(variance / n), count: n };
  }
}

/** Perplexity of `targets[i]` under `logits[i]` (row i predicts targets[i]). */
export function perplexity(logits: readonly Float32Array[], targets: readonly number[]): PerplexityResult {
  const acc = new NllAccumulator();
  for (let i = 0; i < Math.min(logits.length, targets.length); i++) acc.add(logits[i]!, targets[i]!);
  return acc.result();
}

/**
 * Perplexity of a token stream evaluated in consecutive windows of T+1 tokens with stride T (each window
 * from an empty cache, predicting its last T tokens): the same windows the trainer's held-out evaluation
 * uses, so the two numbers compare directly.
 */
export async function streamPerplexity(model: BitnetModel, stream: ArrayLike<number>, T: number, onProgress?: (done: number, total: number) => void): Promise<PerplexityResult> {
  const acc = new NllAccumulator();
  for (let start = 0; start + 1 < stream.length; start += T) {
    const window = Array.prototype.slice.call(stream, start, Math.min(stream.length, start + T + 1)) as number[];
    const rows = await model.evaluate(window);
    for (let i = 0; i + 1 < window.length; i++) acc.add(rows[i]!, window[i + 1]!);
    onProgress?.(Math.min(stream.length, start + T + 1), stream.length);
  }
  return acc.result();
}

export interface DistributionComparison {
  /** mean over positions of KL(base || test) in nats */
  klMean: number;
  klMax: number;
  /** fraction of positions where both argmaxes agree */
  top1Agreement: number;
  /** largest |test - base| over all logits */
  maxAbsLogitDiff: number;
  /** root mean square of test - base over all logits */
  rmsLogitDiff: number;
  /** standard deviation of the base logits within a row, averaged over rows (the scale of the differences) */
  baseLogitSd: number;
  count: number;
}

/** Compares `test` against `base` position by position (same vocabulary, same positions). */
export function compareDistributions(base: readonly Float32Array[], test: readonly Float32Array[]): DistributionComparison {
  const n = Math.min(base.length, test.length);
  let klSum = 0;
  let klMax = 0;
  let agree = 0;
  let maxDiff = 0;
  let sqDiff = 0;
  let sdSum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const p = base[i]!;
    const q = test[i]!;
    if (p.length !== q.length) throw new RangeError(`position ${i}: vocabularies differ (${p.length} vs ${q.length})`);
    const lp = logSumExp(p);
    const lq = logSumExp(q);
    let kl = 0;
    let sum = 0;
    let sumSq = 0;
    for (let v = 0; v < p.length; v++) {
      const a = p[v]! - lp;
      kl += Math.exp(a) * (a - (q[v]! - lq));
      const d = Math.abs(q[v]! - p[v]!);
      if (d > maxDiff) maxDiff = d;
      sqDiff += d * d;
      sum += p[v]!;
      sumSq += p[v]! * p[v]!;
    }
    count += p.length;
    sdSum += Math.sqrt(Math.max(0, sumSq / p.length - (sum / p.length) ** 2));
    kl = Math.max(0, kl);
    klSum += kl;
    if (kl > klMax) klMax = kl;
    if (argmax(p) === argmax(q)) agree++;
  }
  return { klMean: n ? klSum / n : NaN, klMax, top1Agreement: n ? agree / n : NaN, maxAbsLogitDiff: maxDiff, rmsLogitDiff: count ? Math.sqrt(sqDiff / count) : NaN, baseLogitSd: n ? sdSum / n : NaN, count: n };
}
