// Token log-probabilities: log-softmax of a raw logits row (over the tokenizer's vocabulary), with the
// `top` most likely alternatives; for generated tokens and, row by row as prompt chunks are evaluated,
// for the prompt's own tokens (echo / teacher-forced scoring).
import { BitnetError } from '../errors.js';

export interface TokenLogprob {
  token: number;
  /** natural log of the token's probability under the raw model logits */
  logprob: number;
  /** the most likely tokens at this position, logprob descending (ties: lower id first) */
  top: Array<{ token: number; logprob: number }>;
}

/** Checks an optional count of alternatives (logprobs, promptLogprobs): an integer >= 0. */
export function checkTopCount(name: string, n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0) throw new BitnetError('INVALID_ARGUMENT', `must be an integer >= 0, got ${n}`, { name });
  return n;
}

/** log(sum(exp(row))): one pass for the max, one for the sum of exponentials in float64. */
export function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/** The log-probability of `token` and of the `n` most likely tokens of a logits row. */
export function tokenLogprob(row: ArrayLike<number>, token: number, n: number): TokenLogprob {
  const lse = logSumExp(row);
  const k = Math.min(n, row.length);
  // a small sorted buffer of ids: cheap rejects once full
  const ids: number[] = [];
  for (let i = 0; i < row.length && k > 0; i++) {
    const v = row[i]!;
    if (ids.length === k && v <= row[ids[k - 1]!]!) continue;
    let pos = ids.length;
    while (pos > 0 && row[ids[pos - 1]!]! < v) pos--;
    ids.splice(pos, 0, i);
    if (ids.length > k) ids.pop();
  }
  return { token, logprob: token < row.length ? row[token]! - lse : -Infinity, top: ids.map((id) => ({ token: id, logprob: row[id]! - lse })) };
}

/**
 * Scores a prompt from the logits of its positions, fed chunk by chunk as they are evaluated: the row of
 * position i gives the entry of prompt[i + 1]. Entry 0 is null (nothing predicts the first token).
 */
export class PromptScorer {
  readonly entries: Array<TokenLogprob | null>;

  constructor(
    private readonly prompt: readonly number[],
    private readonly n: number,
    /** tokens the rows are restricted to (the tokenizer's vocabulary) */
    private readonly vocab: number,
  ) {
    this.entries = [null];
  }

  /** Rows [count, nVocab] of positions start .. start + count - 1 (in order, each chunk once). */
  add(rows: Float32Array, nVocab: number, start: number, count: number): void {
    if (start + 1 !== this.entries.length) throw new BitnetError('INVALID_ARGUMENT', `prompt rows from ${start} after ${this.entries.length - 1}`, { name: 'promptLogprobs' });
    for (let r = 0; r < count; r++) {
      const target = start + r + 1;
      if (target >= this.prompt.length) break;
      const off = r * nVocab;
      this.entries.push(tokenLogprob(rows.subarray(off, off + Math.min(nVocab, this.vocab)), this.prompt[target]!, this.n));
    }
  }

  get complete(): boolean {
    return this.entries.length === this.prompt.length;
  }
}
