// llama.cpp's context shift policy: when a sequence needs a position past its context, keep the first
// n_keep tokens (BOS counted in addition, -1: the whole prompt), drop half of the rest and go on with the
// kept keys re-rotated in place (model/forward.ts shiftKv), never re-evaluated.
import { BitnetError } from '../errors.js';

/** nKeep as given (default 0), or INVALID_ARGUMENT naming nKeep unless it is an integer >= -1. */
export function checkKeep(nKeep: number | undefined): number {
  const n = nKeep ?? 0;
  if (!Number.isInteger(n) || n < -1) throw new BitnetError('INVALID_ARGUMENT', `must be an integer >= -1, got ${n}`, { name: 'nKeep' });
  return n;
}

/**
 * Cached tokens kept at the start on a shift, as llama-cli counts them: `nKeep` < 0 or beyond the prompt
 * keeps the whole prompt; otherwise nKeep plus the BOS the prompt starts with (at most the prompt).
 */
export function keepCount(prompt: ArrayLike<number>, nKeep: number, bos: number | null): number {
  if (nKeep < 0 || nKeep > prompt.length) return prompt.length;
  return Math.min(prompt.length, nKeep + (bos !== null && prompt.length > 0 && prompt[0] === bos ? 1 : 0));
}

/** Tokens a shift of `nPast` cached tokens drops after the first `keep`: n_discard = (n_past - n_keep) / 2. */
export function discardCount(nPast: number, keep: number): number {
  return Math.max(0, Math.floor((nPast - keep) / 2));
}
