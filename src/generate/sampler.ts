// The sampler chain, in llama.cpp's order: repetition/presence/frequency penalties over the last N
// tokens, top-k, top-p, min-p, temperature, then a seeded draw. temperature <= 0 (or top-k 1) is greedy.
// Same seed and same logits give the same token in Node and browsers.
import { BitnetError } from '../errors.js';
import { Rng } from '../util/rng.js';

export interface SamplerOptions {
  /** <= 0: greedy. Default 0.8 */
  temperature?: number;
  /** <= 0: off. Default 40 */
  topK?: number;
  /** >= 1: off. Default 0.95 */
  topP?: number;
  /** <= 0: off. Default 0.05 */
  minP?: number;
  /** 1: off. Default 1 */
  repeatPenalty?: number;
  /** how many recent tokens the penalties look at; default 64; -1: all */
  repeatLastN?: number;
  /** OpenAI-style: subtracted once from every token already present. Default 0 */
  presencePenalty?: number;
  /** OpenAI-style: subtracted per occurrence. Default 0 */
  frequencyPenalty?: number;
  /** default: random */
  seed?: number;
}

export const SAMPLER_DEFAULTS = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, repeatLastN: 64, presencePenalty: 0, frequencyPenalty: 0 };

/** The largest finite float32. */
const F32_MAX = 3.4028234663852886e38;

function check(name: string, v: number, ok: boolean): number {
  if (!Number.isFinite(v) || !ok) throw new BitnetError('INVALID_ARGUMENT', `invalid value ${v}`, { name });
  return v;
}

export class Sampler {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repeatPenalty: number;
  readonly repeatLastN: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly seed: number;
  private readonly rng: Rng;

  constructor(opts: SamplerOptions = {}) {
    const o = { ...SAMPLER_DEFAULTS, ...stripUndefined(opts) };
    this.temperature = check('temperature', o.temperature, true);
    this.topK = Math.floor(check('topK', o.topK, true));
    this.topP = check('topP', o.topP, o.topP >= 0);
    this.minP = check('minP', o.minP, o.minP >= 0 && o.minP <= 1);
    this.repeatPenalty = check('repeatPenalty', o.repeatPenalty, o.repeatPenalty > 0);
    this.repeatLastN = Math.floor(check('repeatLastN', o.repeatLastN, o.repeatLastN >= -1));
    this.presencePenalty = check('presencePenalty', o.presencePenalty, true);
    this.frequencyPenalty = check('frequencyPenalty', o.frequencyPenalty, true);
    this.seed = opts.seed !== undefined && opts.seed >= 0 ? Math.floor(check('seed', opts.seed, true)) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
    this.rng = new Rng(this.seed);
  }

  /** Picks the next token from `logits` (not modified) given the tokens generated or seen so far. */
  sample(logits: Float32Array, history: ArrayLike<number>): number {
    const penalized = this.applyPenalties(logits, history);
    if (this.greedy) return argmax(penalized);
    // candidates sorted by logit, descending; top-k cuts before any softmax
    const ids = topIds(penalized, this.topK > 0 ? Math.min(this.topK, penalized.length) : penalized.length);
    return this.draw(ids, ids.map((i) => penalized[i]!));
  }

  /**
   * How many of the largest logits decide the next token, when no others can (greedy: 1; top-k: k) and no
   * penalty changes them; undefined when the whole row is needed. Then sampleTop() on that many candidates
   * picks exactly what sample() would on the whole row.
   */
  get candidatesNeeded(): number | undefined {
    const penalties = this.repeatPenalty !== 1 || this.presencePenalty !== 0 || this.frequencyPenalty !== 0;
    if (penalties && this.repeatLastN !== 0) return undefined;
    if (this.greedy) return 1;
    return this.topK > 0 ? this.topK : undefined;
  }

  /** sample() from the top candidates alone: ids by logit descending (ties: lower id first) and their logits. */
  sampleTop(ids: readonly number[], logits: readonly number[]): number {
    if (ids.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'there are no candidates to sample', { name: 'logits' });
    if (this.greedy) return ids[0]!;
    const k = Math.min(this.topK, ids.length);
    return this.draw(ids.slice(0, k), logits.slice(0, k));
  }

  private get greedy(): boolean {
    return this.temperature <= 0 || this.topK === 1;
  }

  /** top-p, min-p, temperature and the seeded draw over candidates sorted by logit, descending. */
  private draw(ids: number[], logits: number[]): number {
    if (this.topP < 1) {
      const p = softmax(logits);
      let cum = 0;
      let keep = ids.length;
      for (let i = 0; i < ids.length; i++) {
        cum += p[i]!;
        if (cum >= this.topP) {
          keep = i + 1;
          break;
        }
      }
      ids = ids.slice(0, keep);
      logits = logits.slice(0, keep);
    }
    if (this.minP > 0) {
      const cut = logits[0]! + Math.log(this.minP);
      const keep = logits.map((l, k) => k === 0 || l >= cut);
      ids = ids.filter((_, k) => keep[k]);
      logits = logits.filter((_, k) => keep[k]);
    }
    const scaled = logits.map((l) => l / this.temperature);
    // a temperature so small that the largest scaled logit overflows (1e-320) is greedy, which it tends to;
    // -Infinity (banned or masked tokens, or small logits scaled past range) is simply probability 0
    let top = -Infinity;
    for (const x of scaled) if (!(x <= top)) top = x;
    if (!Number.isFinite(top)) return ids[0]!;
    const p = softmax(scaled);
    let r = this.rng.next();
    for (let i = 0; i < ids.length; i++) {
      r -= p[i]!;
      if (r < 0) return ids[i]!;
    }
    // rounding left r >= 0: the last candidate that has any probability (never a banned one)
    for (let i = ids.length - 1; i > 0; i--) if (p[i]! > 0) return ids[i]!;
    return ids[0]!;
  }

  /**
   * sample() on the row with every token the constraint refuses set to -Infinity, without building that row:
   * masking commutes with the penalties, so the top-k candidates of the masked row are the first k allowed
   * ones among the penalized row's largest (greedy: k = 1, the argmax first). When those are not found among
   * the largest max(64, 4k), or top-k is off, or the state's few allowed tokens are known already, the
   * candidates come from the list of allowed tokens instead.
   */
  sampleConstrained(logits: Float32Array, history: ArrayLike<number>, c: { allows(id: number): boolean; allowedTokens(onlyIfCheap?: boolean): Int32Array | undefined }): number {
    const penalized = this.applyPenalties(logits, history);
    const known = c.allowedTokens(true);
    if (known !== undefined) return this.sampleAmong(penalized, known);
    const k = this.greedy ? 1 : this.topK > 0 ? Math.min(this.topK, penalized.length) : 0;
    if (k === 1) {
      const best = argmax(penalized);
      if (penalized[best]! > -Infinity && c.allows(best)) return best;
    }
    if (k > 1) {
      const keep: number[] = [];
      const ids = topIds(penalized, Math.min(penalized.length, Math.max(64, 4 * k)));
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (penalized[id]! > -Infinity && c.allows(id)) keep.push(id);
        if (keep.length === k) return this.draw(keep, keep.map((x) => penalized[x]!));
        // give up early where the grammar refuses most of the top (then the allowed list is the cheaper way)
        if (keep.length + ids.length - i - 1 < k || (i === 15 && keep.length < 4)) break;
      }
    }
    return this.sampleAmong(penalized, c.allowedTokens()!);
  }

  /** sample() (penalties already applied) over the given ids alone, ascending; -Infinity ones never drawn. */
  private sampleAmong(penalized: Float32Array, ids: Int32Array): number {
    const n = penalized.length;
    const none = (): never => {
      throw new BitnetError('GRAMMAR', 'no token of the vocabulary can continue the grammar here', { name: 'grammar' });
    };
    if (this.greedy) {
      let best = -1;
      let value = -Infinity;
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (id < n && penalized[id]! > value) [best, value] = [id, penalized[id]!];
      }
      return best >= 0 ? best : none();
    }
    let top: number[];
    if (this.topK > 0) {
      // the k largest, largest first; ascending ids keep topIds' tie order (lower id first)
      const k = this.topK;
      top = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (id >= n) break;
        const v = penalized[id]!;
        if (v === -Infinity || (top.length === k && v <= penalized[top[k - 1]!]!)) continue;
        let pos = top.length;
        while (pos > 0 && penalized[top[pos - 1]!]! < v) pos--;
        top.splice(pos, 0, id);
        if (top.length > k) top.pop();
      }
    } else {
      top = Array.from(ids).filter((id) => id < n && penalized[id]! > -Infinity);
      top.sort((a, b) => penalized[b]! - penalized[a]! || a - b);
    }
    if (top.length === 0) none();
    return this.draw(top, top.map((i) => penalized[i]!));
  }

  private applyPenalties(logits: Float32Array, history: ArrayLike<number>): Float32Array {
    const active = this.repeatPenalty !== 1 || this.presencePenalty !== 0 || this.frequencyPenalty !== 0;
    if (!active || history.length === 0 || this.repeatLastN === 0) return logits;
    const n = this.repeatLastN < 0 ? history.length : Math.min(this.repeatLastN, history.length);
    const counts = new Map<number, number>();
    for (let i = history.length - n; i < history.length; i++) counts.set(history[i]!, (counts.get(history[i]!) ?? 0) + 1);
    const out = logits.slice();
    for (const [id, count] of counts) {
      if (id < 0 || id >= out.length) continue;
      let l = out[id]!;
      l = l <= 0 ? l * this.repeatPenalty : l / this.repeatPenalty;
      l -= count * this.frequencyPenalty + this.presencePenalty;
      // a tiny repeat_penalty (1e-300) divides a logit past float range: keep it the largest finite one
      out[id] = Math.max(-F32_MAX, Math.min(F32_MAX, l));
    }
    return out;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Ids of the k largest values, largest first (ties: lower id first). */
export function topIds(x: ArrayLike<number>, k: number): number[] {
  if (k >= x.length) return Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[b]! - x[a]! || a - b);
  // keep a small sorted buffer: O(n log k) with cheap rejects
  const ids: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (ids.length === k && v <= x[ids[k - 1]!]!) continue;
    let pos = ids.length;
    while (pos > 0 && x[ids[pos - 1]!]! < v) pos--;
    ids.splice(pos, 0, i);
    if (ids.length > k) ids.pop();
  }
  return ids;
}

export function softmax(x: number[]): number[] {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  const e = x.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}
