// A sequence: the tokens held in one KV cache, prompt evaluation in batches (llama.cpp's ubatch), single
// token decode steps, reuse of the longest common prefix with the next prompt, and the context shift
// (context-shift.ts) with what prefix reuse may match after it. Context-length errors name both lengths.
import { BitnetError, throwIfAborted } from '../errors.js';
import { forward, forwardTop, shiftKv, type LoadedWeights, type TopLogits, type TraceFn } from '../model/forward.js';
import { KvCache, kvTypesOf, type KvType, type KvTypes } from '../model/kv-cache.js';
import { Pooler, type Pooling } from '../model/pooling.js';
import { discardCount } from './context-shift.js';

export interface SequenceOptions {
  contextSize: number;
  /** the cache's K/V storage: one type for both, or a pair (llama.cpp's -ctk / -ctv) */
  kvType: KvType | KvTypes;
  /** tokens per forward call during prompt evaluation (llama.cpp's n_ubatch); default 512 */
  batchSize?: number;
  /**
   * remember the tokens context shifts drop, so that a prompt longer than the context that goes on from
   * this sequence's history continues its shifted cache (chat sessions; see prefill)
   */
  keepHistory?: boolean;
}

export interface PrefillProgress {
  done: number;
  total: number;
}

/**
 * Lets timers, I/O and abort signals run between forward passes. Browsers have no setImmediate, and their
 * nested setTimeout(0) waits >= 4 ms, so there a MessageChannel message (a task, no clamping) does it.
 */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else if (typeof MessageChannel === 'function') {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(null);
    } else setTimeout(resolve, 0);
  });

/** Throws unless `prompt` has tokens and fits a context of `contextSize` (the error names both lengths). */
export function checkPrompt(prompt: ArrayLike<number>, contextSize: number): void {
  if (prompt.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'the prompt is empty (no tokens to evaluate)', { name: 'prompt' });
  if (prompt.length > contextSize) {
    throw new BitnetError('CONTEXT_OVERFLOW', `the prompt has ${prompt.length} tokens but the context size is ${contextSize}`);
  }
}

/**
 * Tokens in the prompt batch that starts at position `next` of a prompt of `length` tokens. A one-token
 * batch takes ggml's single-row attention path (P rounded to f16 for P·V), so it must hold the same
 * positions however much of the prompt was cached: a fresh evaluation in batches of `batchSize` ends with
 * one when length % batchSize == 1, and so does every evaluation of that prompt (its last token alone);
 * no other batch has a single token (beginPrefill sees to it).
 */
export function prefillChunk(next: number, length: number, batchSize: number): number {
  const tail = length % batchSize === 1 ? length - 1 : length;
  return next < tail ? Math.min(batchSize, tail - next) : length - next;
}

/**
 * After a context shift the cache no longer holds what evaluating its token list gives: the moved keys are
 * rotated (rounding), and every position after the dropped span was computed while seeing the dropped
 * tokens. So prefix reuse (commonPrefix, beginPrefill: the scheduler's slots, model.generate) matches only
 * the positions before the first span a shift dropped, whose K/V are exact, and a request reusing a slot
 * gets what a fresh evaluation gives (stricter than llama-server, which matches the shifted token list).
 * A sequence created with keepHistory (a chat session) also continues its shifted cache when a prompt
 * longer than the context goes on from its history (the dropped tokens included), as llama-cli does.
 */
export class Sequence {
  readonly kv: KvCache;
  /** tokens whose K/V are in the cache, in order */
  readonly tokens: number[] = [];
  readonly batchSize: number;
  /** the first cache position a context shift changed (Infinity: none since the cache last held less) */
  private shiftedFrom = Infinity;
  /** with keepHistory: the tokens evaluated since the cache was empty, dropped ones included */
  private readonly history: number[] | undefined;
  /** with keepHistory: each cache position's index in history */
  private readonly origin: number[] | undefined;

  constructor(
    readonly model: LoadedWeights,
    readonly opts: SequenceOptions,
  ) {
    const hp = model.hp;
    this.kv = new KvCache(model.backend, hp.nLayer, hp.nHeadKv, hp.headDim, opts.contextSize, kvTypesOf(opts.kvType));
    this.batchSize = Math.max(1, opts.batchSize ?? 512);
    if (opts.keepHistory) {
      this.history = [];
      this.origin = [];
    }
  }

  /** Whether a context shift changed the cache (positions from shiftedFrom on) since it last held less. */
  get shifted(): boolean {
    return this.shiftedFrom !== Infinity;
  }

  /** Appends tokens just evaluated into the cache. */
  private push(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      this.tokens.push(ids[i]!);
      if (this.history) {
        this.origin!.push(this.history.length);
        this.history.push(ids[i]!);
      }
    }
  }

  /**
   * Context shift: drops cached tokens [keep, keep + discard), moving the rest down with their keys
   * re-rotated (model/forward.ts shiftKv). Prefix reuse stops at `keep` from now on (see the class).
   */
  shift(keep: number, discard: number): void {
    if (discard === 0) return;
    shiftKv(this.model, this.kv, keep, discard);
    this.tokens.splice(keep, discard);
    this.origin?.splice(keep, discard);
    this.shiftedFrom = Math.min(this.shiftedFrom, keep);
  }

  /**
   * Makes room for one more token when the cache is full, as llama.cpp does: keeps the first `keep`
   * tokens and drops half of the rest. Returns false when nothing can be dropped (keep >= context - 1).
   */
  makeRoom(keep: number): boolean {
    if (this.tokens.length < this.contextSize) return true;
    const discard = discardCount(this.tokens.length, keep);
    if (discard < 1) return false;
    this.shift(keep, discard);
    return true;
  }

  get contextSize(): number {
    return this.opts.contextSize;
  }

  /** Releases the KV cache (the sequence is empty and unusable afterwards). */
  dispose(): void {
    this.tokens.length = 0;
    this.kv.free();
  }

  /** Drops cached positions >= n. */
  truncate(n: number): void {
    this.tokens.length = Math.min(this.tokens.length, n);
    this.kv.truncate(this.tokens.length);
    if (this.tokens.length <= this.shiftedFrom) this.shiftedFrom = Infinity;
    if (this.history) {
      this.origin!.length = this.tokens.length;
      this.history.length = this.tokens.length > 0 ? this.origin![this.tokens.length - 1]! + 1 : 0;
    }
  }

  /** Makes this sequence hold the first n tokens of `src` (their K/V copied, not evaluated). */
  copyFrom(src: Sequence, n: number): void {
    if (src === this) return this.truncate(n);
    this.kv.copyFrom(src.kv, n);
    this.tokens.length = 0;
    if (this.history) this.history.length = this.origin!.length = 0;
    this.push(src.tokens.slice(0, n)); // (a history of its own from here: the source's dropped tokens are not known)
    this.shiftedFrom = src.shiftedFrom < n ? src.shiftedFrom : Infinity;
  }

  /**
   * Length of the common prefix between the cache and `tokens` that prefix reuse may take: after a
   * context shift, at most the positions before the first dropped span (see the class).
   */
  commonPrefix(tokens: ArrayLike<number>): number {
    let n = 0;
    const max = Math.min(tokens.length, this.tokens.length, this.shiftedFrom);
    while (n < max && tokens[n] === this.tokens[n]) n++;
    return n;
  }

  /**
   * Checks that `prompt` fits, drops the cached positions it does not share and returns how many cached
   * tokens it reuses; the caller then evaluates prompt[reused..] in batches of prefillChunk() from there.
   */
  beginPrefill(prompt: ArrayLike<number>, opts: { reuse?: boolean } = {}): number {
    checkPrompt(prompt, this.contextSize);
    if (opts.reuse === false) {
      this.truncate(0);
      return 0;
    }
    return this.startAt(prompt, this.commonPrefix(prompt));
  }

  /** Keeps `cached` tokens of `prompt` (which the cache holds) for reuse, at most all but the last. */
  private startAt(prompt: ArrayLike<number>, cached: number): number {
    let reused = Math.min(cached, prompt.length - 1);
    // a one-token batch takes ggml's single-row path (f16 P·V): re-evaluate one more token rather than leave
    // one before the prompt's last (see prefillChunk), so a reused prefix gives what a fresh sequence gives
    const bs = this.batchSize;
    const tail = prompt.length % bs === 1 ? prompt.length - 1 : prompt.length;
    if (reused > 0 && (tail - reused) % bs === 1) reused--;
    this.truncate(reused);
    return reused;
  }

  /**
   * With keepHistory and a context shift (`keep`), for a prompt longer than the context (a chat past it):
   * one that goes on from the history, past any dropped span, continues the cache as it stands: the
   * cache must hold its tokens up to where the prompt leaves the history, then the prompt's new tokens,
   * shifted (keeping `keep`) while they do not fit. After a shift, another prompt is cut as a shift would
   * cut it: its first `keep` tokens, then as many of its last as fit in half of the rest of the context.
   * Returns the tokens the cache must hold and how many of them it holds already; undefined for a prompt
   * evaluated as it is (one that fits; else CONTEXT_OVERFLOW, as a first prompt too long is).
   */
  private continuation(prompt: ArrayLike<number>, keep: number | undefined): { tokens: number[]; cached: number; cutAt?: number; origin?: number[] } | undefined {
    const h = this.history;
    if (!h || keep === undefined || prompt.length <= this.contextSize) return undefined;
    let j = 0; // where the prompt leaves the history
    while (j < prompt.length && j < h.length && prompt[j] === h[j]) j++;
    const o = this.origin!;
    let m = 0; // cache positions holding history before j
    while (m < o.length && o[m]! < j) m++;
    // the prompt must go on past every dropped token, or the cache would skip some of its own tokens
    if (m === 0 || o[m - 1]! !== j - 1 || (this.shifted && m <= this.shiftedFrom)) {
      if (!this.shifted || discardCount(this.contextSize, keep) < 1) return undefined;
      const tail = discardCount(this.contextSize, keep);
      const cut = [...Array.prototype.slice.call(prompt, 0, keep), ...Array.prototype.slice.call(prompt, prompt.length - tail)] as number[];
      // the cut is a drop of the prompt's middle: the history is the prompt, the later turns continue it
      const origin = cut.map((_, i) => (i < keep ? i : prompt.length - tail + i - keep));
      return { tokens: cut, cached: this.commonPrefix(cut), cutAt: keep, origin };
    }
    const fresh = Array.prototype.slice.call(prompt, j) as number[];
    this.truncate(m);
    while (m + fresh.length > this.contextSize) {
      const discard = discardCount(m, Math.min(keep, m));
      if (discard < 1) {
        throw new BitnetError('CONTEXT_OVERFLOW', `the prompt's new ${fresh.length} tokens do not fit the context size ${this.contextSize} after the ${Math.min(keep, m)} kept`);
      }
      this.shift(Math.min(keep, m), discard);
      m -= discard;
    }
    return { tokens: [...this.tokens, ...fresh], cached: m };
  }

  /**
   * Makes the cache hold exactly `prompt`, evaluating only what is not already cached, and returns the logits
   * of its last token. At least the last token is always evaluated. Returns how many tokens were reused.
   * With `top` (backends with topK), returns only the `top` largest logits of the last token, in `top`.
   * With `rows`, the whole prompt is evaluated (no reuse) with the logits of every position, handed to
   * `rows` batch by batch ([count, nVocab] for positions start ..) and not kept.
   */
  async prefill(
    prompt: ArrayLike<number>,
    opts: {
      signal?: AbortSignal;
      onProgress?: (p: PrefillProgress) => void;
      trace?: TraceFn;
      top?: number;
      rows?: (rows: Float32Array, start: number, count: number) => void;
      /** tokens kept at the start when a continued prompt needs a context shift (see continuation) */
      keep?: number;
    } = {},
  ): Promise<{ logits: Float32Array; top?: TopLogits; reused: number }> {
    const given = prompt;
    const cont = opts.rows ? undefined : this.continuation(prompt, opts.keep);
    if (cont) prompt = cont.tokens;
    const reused = cont ? this.startAt(prompt, cont.cached) : this.beginPrefill(prompt, opts.rows ? { reuse: false } : {});
    const nVocab = this.model.hp.nVocab;
    let logits: Float32Array = new Float32Array(0);
    let top: TopLogits | undefined;
    for (let start = reused; start < prompt.length; ) {
      throwIfAborted(opts.signal);
      const batch = Array.prototype.slice.call(prompt, start, start + prefillChunk(start, prompt.length, this.batchSize)) as number[];
      const last = start + batch.length === prompt.length;
      const fwd: Parameters<typeof forward>[3] = { logits: opts.rows ? 'all' : last ? 'last' : 'none' };
      if (opts.trace) fwd.trace = opts.trace;
      if (last && opts.top !== undefined && !opts.trace && !opts.rows) top = await forwardTop(this.model, this.kv, batch, opts.top);
      else logits = await forward(this.model, this.kv, batch, fwd);
      if (opts.rows) {
        opts.rows(logits, start, batch.length);
        logits = logits.subarray((batch.length - 1) * nVocab);
      }
      this.push(batch);
      opts.onProgress?.({ done: start + batch.length - reused, total: prompt.length - reused });
      start += batch.length;
      if (!last) await yieldToEventLoop();
    }
    if (cont?.origin) {
      // a cut prompt: its middle was dropped (as by a shift at cutAt)
      this.history!.length = this.origin!.length = 0;
      for (let i = 0; i < given.length; i++) this.history!.push(given[i]!);
      this.origin!.push(...cont.origin);
      this.shiftedFrom = Math.min(this.shiftedFrom, cont.cutAt!);
    }
    // reused counts the given prompt's tokens not evaluated now (a continuation's are in the cache or dropped)
    const skipped = reused + given.length - prompt.length;
    return top ? { logits, top, reused: skipped } : { logits, reused: skipped };
  }

  /** Evaluates one token at the end of the sequence and returns its logits. */
  async step(token: number, trace?: TraceFn): Promise<Float32Array> {
    this.checkRoom();
    const logits = await forward(this.model, this.kv, [token], trace ? { logits: 'last', trace } : { logits: 'last' });
    this.push([token]);
    return logits;
  }

  /** step() returning only the k largest logits (backends with topK: k numbers read back, not the row). */
  async stepTop(token: number, k: number): Promise<TopLogits> {
    this.checkRoom();
    const top = await forwardTop(this.model, this.kv, [token], k);
    this.push([token]);
    return top;
  }

  /** Throws unless the cache has room for one more token. */
  private checkRoom(): void {
    if (this.tokens.length >= this.contextSize) {
      throw new BitnetError('CONTEXT_OVERFLOW', `the context is full (${this.contextSize} tokens)`);
    }
  }

  /**
   * The final hidden states of `tokens` (after output_norm), evaluated from an empty cache in batches and
   * pooled (model/pooling.ts): [nEmbd], or [T, nEmbd] for 'none'.
   */
  async embed(tokens: ArrayLike<number>, opts: { pooling: Pooling; normalize: boolean; signal?: AbortSignal }): Promise<Float32Array> {
    checkPrompt(tokens, this.contextSize);
    this.truncate(0);
    const pooler = new Pooler(opts.pooling, tokens.length, this.model.hp.nEmbd);
    for (let start = 0; start < tokens.length; start += this.batchSize) {
      throwIfAborted(opts.signal);
      const batch = Array.prototype.slice.call(tokens, start, Math.min(tokens.length, start + this.batchSize)) as number[];
      pooler.add(await forward(this.model, this.kv, batch, { logits: 'hidden' }), start, batch.length);
      this.push(batch);
    }
    return pooler.result(opts.normalize);
  }

  /** Logits of every position of `tokens`, evaluated from an empty cache in batches. */
  async evaluateAll(tokens: ArrayLike<number>, trace?: TraceFn): Promise<Float32Array[]> {
    if (tokens.length > this.contextSize) {
      throw new BitnetError('CONTEXT_OVERFLOW', `${tokens.length} tokens do not fit in the context size ${this.contextSize}`);
    }
    this.truncate(0);
    const out: Float32Array[] = [];
    const nVocab = this.model.hp.nVocab;
    for (let start = 0; start < tokens.length; start += this.batchSize) {
      const batch = Array.prototype.slice.call(tokens, start, Math.min(tokens.length, start + this.batchSize)) as number[];
      const logits = await forward(this.model, this.kv, batch, trace ? { logits: 'all', trace } : { logits: 'all' });
      for (let t = 0; t < batch.length; t++) out.push(logits.slice(t * nVocab, (t + 1) * nVocab));
      this.push(batch);
    }
    return out;
  }
}
