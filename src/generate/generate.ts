// The generation loop: evaluate the prompt (reusing the cached prefix), then sample, stream and evaluate
// one token at a time until a stop token, a stop string, max tokens or the end of the context (or past
// it, with context shifts). Yields
// text pieces (never half a UTF-8 character, never part of a stop string) with their token ids, and ends
// with a chunk carrying the finish reason and timing stats.
import { BitnetError, throwIfAborted } from '../errors.js';
import { createConstraint, type CompiledGrammar, type TokenConstraint } from '../grammar/index.js';
import { BACKEND_TOP_K_MAX } from '../kernels/backend.js';
import type { TopLogits } from '../model/forward.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { checkTopCount, PromptScorer, tokenLogprob, type TokenLogprob } from './logprobs.js';
import { Sampler, type SamplerOptions } from './sampler.js';
import { checkKeep, discardCount, keepCount } from './context-shift.js';
import { yieldToEventLoop, type PrefillProgress, type Sequence } from './sequence.js';
import { StopMatcher } from './stop.js';
import type { StreamDecoder } from '../tokenizer/index.js';

export type { TokenLogprob } from './logprobs.js';

export type FinishReason = 'stop' | 'length';

/** Token id -> bias added to its logit before sampling; <= -100 bans the token. */
export type LogitBias = Readonly<Record<number, number>> | ReadonlyMap<number, number>;

export interface GenerateOptions extends SamplerOptions {
  /** most tokens to generate; default: until a stop or the end of the context */
  maxTokens?: number;
  /** stop strings: generation ends before them and they are never emitted */
  stop?: string | string[];
  /** keep going past end-of-generation tokens */
  ignoreEos?: boolean;
  /**
   * when the context is full, drop half of the cached tokens after the first nKeep and go on (llama.cpp's
   * context shift, context-shift.ts) instead of ending with 'length'; default false (the CLI and the server
   * turn it on)
   */
  contextShift?: boolean;
  /** tokens a context shift keeps at the start, BOS counted in addition (llama.cpp's n_keep); -1: the whole prompt; default 0 */
  nKeep?: number;
  /** token ids that end generation in addition to the model's end-of-generation tokens (kept with ignoreEos) */
  stopTokens?: readonly number[];
  signal?: AbortSignal;
  /** constrain the output to a grammar (compileGrammar): end-of-generation tokens only where it is complete */
  grammar?: CompiledGrammar;
  onPromptProgress?: (p: PrefillProgress) => void;
  /** added to the logits before the penalties and the sampler (OpenAI's logit_bias); <= -100 bans the token */
  logitBias?: LogitBias;
  /**
   * every chunk with tokens carries `logprobs` (one per token) with this many alternatives: log-softmax of
   * the raw model logits over the vocabulary (before bias, penalties and temperature)
   */
  logprobs?: number;
  /**
   * the prompt is evaluated with the logits of every position (no prefix reuse) and the first chunk carries
   * `promptLogprobs` (null for the first token) with this many alternatives; with maxTokens 0 this scores
   * the prompt alone
   */
  promptLogprobs?: number;
}

export interface GenerationStats {
  promptTokens: number;
  /** prompt tokens whose K/V were reused from the previous call */
  cachedTokens: number;
  generatedTokens: number;
  promptMs: number;
  generateMs: number;
  totalMs: number;
  promptTokensPerSecond: number;
  tokensPerSecond: number;
  finishReason: FinishReason;
  seed: number;
}

export interface GenerationChunk {
  /** text to append (may be empty while a multi-byte character or a possible stop string is pending) */
  text: string;
  /** token ids this chunk accounts for */
  tokens: number[];
  done: boolean;
  finishReason?: FinishReason;
  stats?: GenerationStats;
  /** with GenerateOptions.logprobs: one entry per token of `tokens` */
  logprobs?: TokenLogprob[];
  /** with GenerateOptions.promptLogprobs, on the first chunk: one entry per prompt token (null for the first) */
  promptLogprobs?: Array<TokenLogprob | null>;
}

/** Bans and biases as parallel arrays (validated against the vocabulary). */
interface BiasTable {
  ids: Int32Array;
  /** the bias, or -Infinity for a ban */
  values: Float64Array;
}

const BAN = -100;

function biasTable(bias: LogitBias, vocab: number): BiasTable | undefined {
  const entries: Array<[number, number]> = bias instanceof Map ? [...bias] : Object.entries(bias).map(([k, v]) => [Number(k), v as number]);
  if (entries.length === 0) return undefined;
  const ids = new Int32Array(entries.length);
  const values = new Float64Array(entries.length);
  let bans = 0;
  entries.forEach(([id, b], i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new BitnetError('INVALID_ARGUMENT', `token id ${id} is out of range [0, ${vocab})`, { name: 'logitBias' });
    if (typeof b !== 'number' || Number.isNaN(b)) throw new BitnetError('INVALID_ARGUMENT', `the bias of token ${id} is not a number`, { name: 'logitBias' });
    ids[i] = id;
    values[i] = b <= BAN ? -Infinity : b;
    if (b <= BAN) bans++;
  });
  if (bans >= vocab) throw new BitnetError('INVALID_ARGUMENT', 'every token of the vocabulary is banned', { name: 'logitBias' });
  return { ids, values };
}

export const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * One generation's state between forward passes, shared by the single-sequence loop below and the batch
 * scheduler: sampling, end-of-generation tokens, stop strings, streaming UTF-8 and the finish reason.
 * Feed it the logits of the last evaluated token; when it is not `done`, evaluate `token` next.
 */
export class GenerationState {
  readonly maxTokens: number;
  readonly sampler: Sampler;
  generated = 0;
  done = false;
  finishReason: FinishReason = 'length';
  /** the token sampled last, to evaluate next while not done */
  token = -1;
  private readonly matcher: StopMatcher;
  private readonly decoder: StreamDecoder;
  private readonly eog: Set<number>;
  private readonly history: number[];
  private readonly bias: BiasTable | undefined;
  private readonly logprobs: number | undefined;
  /** alternatives per prompt token when the prompt is scored, else undefined */
  readonly promptLogprobs: number | undefined;
  /** prompt entries waiting for the first chunk */
  private pendingPrompt: Array<TokenLogprob | null> | undefined;
  private readonly constraint: TokenConstraint | undefined;

  constructor(
    private readonly tokenizer: Tokenizer,
    readonly prompt: readonly number[],
    opts: GenerateOptions,
    endOfGeneration: readonly number[],
  ) {
    this.maxTokens = opts.maxTokens ?? Infinity;
    if (!(this.maxTokens >= 0)) throw new BitnetError('INVALID_ARGUMENT', `must be >= 0, got ${this.maxTokens}`, { name: 'maxTokens' });
    this.sampler = new Sampler(opts);
    const stops = opts.stop === undefined ? [] : typeof opts.stop === 'string' ? [opts.stop] : opts.stop;
    this.matcher = new StopMatcher(stops);
    this.decoder = tokenizer.createStreamDecoder({ skipSpecial: true });
    this.eog = new Set([...(opts.ignoreEos ? [] : endOfGeneration), ...(opts.stopTokens ?? [])]);
    this.history = [...prompt];
    this.bias = opts.logitBias ? biasTable(opts.logitBias, tokenizer.vocabSize) : undefined;
    this.logprobs = checkTopCount('logprobs', opts.logprobs);
    this.promptLogprobs = checkTopCount('promptLogprobs', opts.promptLogprobs);
    this.constraint = opts.grammar ? createConstraint(opts.grammar, tokenizer, [...this.eog]) : undefined;
    if (this.maxTokens === 0) this.done = true;
  }

  /** A scorer for the prompt's rows when promptLogprobs is set (see Sequence.prefill's `rows`). */
  createPromptScorer(): PromptScorer | undefined {
    return this.promptLogprobs === undefined ? undefined : new PromptScorer(this.prompt, this.promptLogprobs, this.tokenizer.vocabSize);
  }

  /** The prompt's entries, handed out with the first chunk (from next() or finish()). */
  setPromptLogprobs(entries: Array<TokenLogprob | null>): void {
    this.pendingPrompt = entries;
  }

  private withPrompt(chunk: GenerationChunk): GenerationChunk {
    if (this.pendingPrompt) {
      chunk.promptLogprobs = this.pendingPrompt;
      this.pendingPrompt = undefined;
    }
    return chunk;
  }

  /**
   * How many of the largest logits of an nVocab-wide row the next token needs (see Sampler.candidatesNeeded;
   * padding rows past the tokenizer's vocabulary included, as they are dropped), or undefined for the row.
   */
  topNeeded(nVocab: number, max: number): number | undefined {
    const need = this.bias || this.logprobs !== undefined || this.constraint ? undefined : this.sampler.candidatesNeeded;
    const vocab = this.tokenizer.vocabSize;
    if (need === undefined || need > vocab) return undefined;
    const k = need + Math.max(0, nVocab - vocab);
    return k <= max ? k : undefined;
  }

  /**
   * Samples from the logits of the last evaluated token (the row, or its topNeeded() largest); `left` is
   * how many positions the context still has free (context size - evaluated tokens): the token drawn now
   * takes one, so with none left generation ends ('length') without drawing, and with one left it ends
   * after this token. So prompt + generated never exceeds the context. Returns the chunk to emit (none
   * when an end-of-generation token was drawn or nothing was).
   */
  next(logits: Float32Array | TopLogits, left: number): GenerationChunk | undefined {
    if (this.done) return undefined;
    if (left <= 0) {
      this.done = true;
      return undefined;
    }
    // embeddings padded past the tokenizer's vocabulary have rows no text maps to: never sample them
    const vocab = this.tokenizer.vocabSize;
    let token: number;
    let lp: TokenLogprob | undefined;
    if (logits instanceof Float32Array) {
      const row = logits.length > vocab ? logits.subarray(0, vocab) : logits;
      token = this.sample(this.bias ? this.biased(row) : row, this.history);
      if (this.logprobs !== undefined) lp = tokenLogprob(row, token, this.logprobs);
    } else {
      if (this.bias || this.logprobs !== undefined || this.constraint) throw new BitnetError('INVALID_ARGUMENT', 'logitBias, logprobs and a grammar need the whole logits row', { name: 'logits' });
      const keep = Array.from(logits.ids, (id, i) => (id < vocab ? i : -1)).filter((i) => i >= 0);
      token = this.sampler.sampleTop(keep.map((i) => logits.ids[i]!), keep.map((i) => logits.values[i]!));
    }
    if (this.eog.has(token)) {
      this.finishReason = 'stop';
      this.done = true;
      return undefined;
    }
    this.constraint?.accept(token);
    this.generated++;
    this.history.push(token);
    this.token = token;
    const text = this.matcher.push(this.decoder.push(token));
    // a chunk even without text, so the chunks account for every generated token
    if (this.matcher.stopped || this.constraint?.mustEnd) {
      this.finishReason = 'stop';
      this.done = true;
    } else if (this.generated >= this.maxTokens || left <= 1) {
      this.done = true;
    }
    return this.withPrompt(lp ? { text, tokens: [token], done: false, logprobs: [lp] } : { text, tokens: [token], done: false });
  }

  /** The row with the logit bias added (bans at -Infinity). */
  private biased(row: Float32Array): Float32Array {
    const out = row.slice();
    const { ids, values } = this.bias!;
    for (let i = 0; i < ids.length; i++) out[ids[i]!] = out[ids[i]!]! + values[i]!;
    return out;
  }

  /** The sampler, restricted to the grammar's tokens when there is one (the mask goes before the penalties). */
  private sample(row: Float32Array, history: readonly number[]): number {
    return this.constraint ? this.sampler.sampleConstrained(row, history, this.constraint) : this.sampler.sample(row, history);
  }

  /** The last chunk: text held back for a possible stop string, the finish reason and the stats. */
  finish(t: { reused: number; start: number; promptDone: number; end: number }): GenerationChunk {
    const rest = this.matcher.stopped ? '' : this.matcher.push(this.decoder.flush()) + this.matcher.flush();
    const promptEvaluated = this.prompt.length - t.reused;
    const stats: GenerationStats = {
      promptTokens: this.prompt.length,
      cachedTokens: t.reused,
      generatedTokens: this.generated,
      promptMs: t.promptDone - t.start,
      generateMs: t.end - t.promptDone,
      totalMs: t.end - t.start,
      promptTokensPerSecond: t.promptDone > t.start ? (promptEvaluated * 1000) / (t.promptDone - t.start) : 0,
      tokensPerSecond: t.end > t.promptDone ? (this.generated * 1000) / (t.end - t.promptDone) : 0,
      finishReason: this.finishReason,
      seed: this.sampler.seed,
    };
    return this.withPrompt({ text: rest, tokens: [], done: true, finishReason: this.finishReason, stats });
  }
}

export async function* generateFromTokens(
  seq: Sequence,
  tokenizer: Tokenizer,
  prompt: number[],
  opts: GenerateOptions = {},
  /** the model's end-of-generation tokens (default: the tokenizer's); ignoreEos turns these off */
  endOfGeneration: readonly number[] = tokenizer.stopTokens,
): AsyncGenerator<GenerationChunk, void, undefined> {
  const state = new GenerationState(tokenizer, prompt, opts, endOfGeneration);
  const keep = opts.contextShift ? keepCount(prompt, checkKeep(opts.nKeep), tokenizer.bos) : undefined;
  // where the backend can pick the largest logits itself (GPU), fetch only those when they decide the token
  const top = seq.model.backend.topK ? state.topNeeded(seq.model.hp.nVocab, BACKEND_TOP_K_MAX) : undefined;
  const scorer = state.createPromptScorer();
  const start = now();
  const pre = await seq.prefill(prompt, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onPromptProgress ? { onProgress: opts.onPromptProgress } : {}),
    ...(top !== undefined ? { top } : {}),
    ...(scorer ? { rows: (rows: Float32Array, s: number, n: number) => scorer.add(rows, seq.model.hp.nVocab, s, n) } : {}),
    ...(keep !== undefined ? { keep } : {}),
  });
  // with a context shift that can drop something, the context never ends the generation
  const shifting = keep !== undefined && discardCount(seq.contextSize, keep) >= 1;
  if (scorer) state.setPromptLogprobs(scorer.entries);
  let logits: Float32Array | TopLogits = pre.top ?? pre.logits;
  const promptDone = now();
  for (;;) {
    throwIfAborted(opts.signal);
    const chunk = state.next(logits, shifting ? Infinity : seq.contextSize - seq.tokens.length);
    if (chunk) yield chunk;
    if (state.done) break;
    if (shifting) seq.makeRoom(keep);
    logits = top !== undefined ? await seq.stepTop(state.token, top) : await seq.step(state.token);
    await yieldToEventLoop();
  }
  yield state.finish({ reused: pre.reused, start, promptDone, end: now() });
}
