// A sequence: the tokens held in one KV cache, prompt evaluation in batches (llama.cpp's ubatch), single
// token decode steps, and reuse of the longest common prefix with the next prompt. Context-length errors
// name both lengths.
import { BitnetError, throwIfAborted } from '../errors.js';
import { forward, forwardTop, type LoadedWeights, type TopLogits, type TraceFn } from '../model/forward.js';
import { KvCache, kvTypesOf, type KvType, type KvTypes } from '../model/kv-cache.js';
import { Pooler, type Pooling } from '../model/pooling.js';

export interface SequenceOptions {
  contextSize: number;
  /** the cache's K/V storage: one type for both, or a pair (llama.cpp's -ctk / -ctv) */
  kvType: KvType | KvTypes;
  /** tokens per forward call during prompt evaluation (llama.cpp's n_ubatch); default 512 */
  batchSize?: number;
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

export class Sequence {
  readonly kv: KvCache;
  /** tokens whose K/V are in the cache, in order */
  readonly tokens: number[] = [];
  readonly batchSize: number;

  constructor(
    readonly model: LoadedWeights,
    readonly opts: SequenceOptions,
  ) {
    const hp = model.hp;
    this.kv = new KvCache(model.backend, hp.nLayer, hp.nHeadKv, hp.headDim, opts.contextSize, kvTypesOf(opts.kvType));
    this.batchSize = Math.max(1, opts.batchSize ?? 512);
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
  }

  /** Makes this sequence hold the first n tokens of `src` (their K/V copied, not evaluated). */
  copyFrom(src: Sequence, n: number): void {
    if (src === this) return this.truncate(n);
    this.kv.copyFrom(src.kv, n);
    this.tokens.length = 0;
    for (let i = 0; i < n; i++) this.tokens.push(src.tokens[i]!);
  }

  /** Length of the common prefix between the cache and `tokens`. */
  commonPrefix(tokens: ArrayLike<number>): number {
    let n = 0;
    while (n < tokens.length && n < this.tokens.length && tokens[n] === this.tokens[n]) n++;
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
    let reused = Math.min(this.commonPrefix(prompt), prompt.length - 1);
    // a one-token batch takes ggml's single-row path (f16 P·V): re-evaluate one more token rather than leave
    // one before the prompt's last (see prefillChunk), so a reused prefix gives what a fresh sequence gives
    const bs = this.batchSize;
    const tail = prompt.length % bs === 1 ? prompt.length - 1 : prompt.length;
    if (reused > 0 && (tail - reused) % bs === 1) reused--;
    this.truncate(reused);
    return reused;
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
    } = {},
  ): Promise<{ logits: Float32Array; top?: TopLogits; reused: number }> {
    const reused = this.beginPrefill(prompt, opts.rows ? { reuse: false } : {});
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
      this.tokens.push(...batch);
      opts.onProgress?.({ done: start + batch.length - reused, total: prompt.length - reused });
      start += batch.length;
      if (!last) await yieldToEventLoop();
    }
    return top ? { logits, top, reused } : { logits, reused };
  }

  /** Evaluates one token at the end of the sequence and returns its logits. */
  async step(token: number, trace?: TraceFn): Promise<Float32Array> {
    this.checkRoom();
    const logits = await forward(this.model, this.kv, [token], trace ? { logits: 'last', trace } : { logits: 'last' });
    this.tokens.push(token);
    return logits;
  }

  /** step() returning only the k largest logits (backends with topK: k numbers read back, not the row). */
  async stepTop(token: number, k: number): Promise<TopLogits> {
    this.checkRoom();
    const top = await forwardTop(this.model, this.kv, [token], k);
    this.tokens.push(token);
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
      this.tokens.push(...batch);
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
      this.tokens.push(...batch);
    }
    return out;
  }
}
