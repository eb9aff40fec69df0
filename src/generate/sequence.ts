// A sequence: the tokens held in one KV cache, prompt evaluation in batches (llama.cpp's ubatch), single
// token decode steps, and reuse of the longest common prefix with the next prompt. Context-length errors
// name both lengths.
import { BitnetError, throwIfAborted } from '../errors.js';
import { forward, type LoadedWeights, type TraceFn } from '../model/forward.js';
import { KvCache, type KvType } from '../model/kv-cache.js';

export interface SequenceOptions {
  contextSize: number;
  kvType: KvType;
  /** tokens per forward call during prompt evaluation (llama.cpp's n_ubatch); default 512 */
  batchSize?: number;
}

export interface PrefillProgress {
  done: number;
  total: number;
}

/** Lets timers, I/O and abort signals run between forward passes. */
export const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

/** Throws unless `prompt` has tokens and fits a context of `contextSize` (the error names both lengths). */
export function checkPrompt(prompt: ArrayLike<number>, contextSize: number): void {
  if (prompt.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'the prompt is empty (no tokens to evaluate)', { name: 'prompt' });
  if (prompt.length > contextSize) {
    throw new BitnetError('CONTEXT_OVERFLOW', `the prompt has ${prompt.length} tokens but the context size is ${contextSize}`);
  }
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
    this.kv = new KvCache(model.backend, hp.nLayer, hp.nHeadKv, hp.headDim, opts.contextSize, opts.kvType);
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

  /** Length of the common prefix between the cache and `tokens`. */
  commonPrefix(tokens: ArrayLike<number>): number {
    let n = 0;
    while (n < tokens.length && n < this.tokens.length && tokens[n] === this.tokens[n]) n++;
    return n;
  }

  /**
   * Checks that `prompt` fits, drops the cached positions it does not share and returns how many cached
   * tokens it reuses; the caller then evaluates prompt[reused..] in batches of `batchSize` from there.
   */
  beginPrefill(prompt: ArrayLike<number>): number {
    checkPrompt(prompt, this.contextSize);
    let reused = Math.min(this.commonPrefix(prompt), prompt.length - 1);
    // a one-token batch takes ggml's single-row path (f16 P·V), which evaluating the whole prompt would not:
    // re-evaluate one more token so a reused prefix gives the same logits as a fresh sequence
    if (reused > 0 && (prompt.length - reused) % this.batchSize === 1 && prompt.length % this.batchSize !== 1) reused--;
    this.truncate(reused);
    return reused;
  }

  /**
   * Makes the cache hold exactly `prompt`, evaluating only what is not already cached, and returns the logits
   * of its last token. At least the last token is always evaluated. Returns how many tokens were reused.
   */
  async prefill(
    prompt: ArrayLike<number>,
    opts: { signal?: AbortSignal; onProgress?: (p: PrefillProgress) => void; trace?: TraceFn } = {},
  ): Promise<{ logits: Float32Array; reused: number }> {
    const reused = this.beginPrefill(prompt);
    let logits: Float32Array = new Float32Array(0);
    for (let start = reused; start < prompt.length; start += this.batchSize) {
      throwIfAborted(opts.signal);
      const batch = Array.prototype.slice.call(prompt, start, Math.min(prompt.length, start + this.batchSize)) as number[];
      const last = start + batch.length === prompt.length;
      const fwd: Parameters<typeof forward>[3] = { logits: last ? 'last' : 'none' };
      if (opts.trace) fwd.trace = opts.trace;
      logits = await forward(this.model, this.kv, batch, fwd);
      this.tokens.push(...batch);
      opts.onProgress?.({ done: start + batch.length - reused, total: prompt.length - reused });
      if (!last) await yieldToEventLoop();
    }
    return { logits, reused };
  }

  /** Evaluates one token at the end of the sequence and returns its logits. */
  async step(token: number, trace?: TraceFn): Promise<Float32Array> {
    if (this.tokens.length >= this.contextSize) {
      throw new BitnetError('CONTEXT_OVERFLOW', `the context is full (${this.contextSize} tokens)`);
    }
    const logits = await forward(this.model, this.kv, [token], trace ? { logits: 'last', trace } : { logits: 'last' });
    this.tokens.push(token);
    return logits;
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
