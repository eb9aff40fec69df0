// The generation loop: evaluate the prompt (reusing the cached prefix), then sample, stream and evaluate
// one token at a time until a stop token, a stop string, max tokens or the end of the context. Yields
// text pieces (never half a UTF-8 character, never part of a stop string) with their token ids, and ends
// with a chunk carrying the finish reason and timing stats.
import { BitnetError, throwIfAborted } from '../errors.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { Sampler, type SamplerOptions } from './sampler.js';
import { yieldToEventLoop, type PrefillProgress, type Sequence } from './sequence.js';
import { StopMatcher } from './stop.js';

export type FinishReason = 'stop' | 'length';

export interface GenerateOptions extends SamplerOptions {
  /** most tokens to generate; default: until a stop or the end of the context */
  maxTokens?: number;
  /** stop strings: generation ends before them and they are never emitted */
  stop?: string | string[];
  /** keep going past end-of-generation tokens */
  ignoreEos?: boolean;
  /** token ids that end generation in addition to the model's end-of-generation tokens (kept with ignoreEos) */
  stopTokens?: readonly number[];
  signal?: AbortSignal;
  onPromptProgress?: (p: PrefillProgress) => void;
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
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

export async function* generateFromTokens(
  seq: Sequence,
  tokenizer: Tokenizer,
  prompt: number[],
  opts: GenerateOptions = {},
  /** the model's end-of-generation tokens (default: the tokenizer's); ignoreEos turns these off */
  endOfGeneration: readonly number[] = tokenizer.stopTokens,
): AsyncGenerator<GenerationChunk, void, undefined> {
  const maxTokens = opts.maxTokens ?? Infinity;
  if (!(maxTokens >= 0)) throw new BitnetError('INVALID_ARGUMENT', `must be >= 0, got ${maxTokens}`, { name: 'maxTokens' });
  const sampler = new Sampler(opts);
  const stops = opts.stop === undefined ? [] : typeof opts.stop === 'string' ? [opts.stop] : opts.stop;
  const matcher = new StopMatcher(stops);
  const decoder = tokenizer.createStreamDecoder({ skipSpecial: true });
  const eog = new Set([...(opts.ignoreEos ? [] : endOfGeneration), ...(opts.stopTokens ?? [])]);
  const history = [...prompt];

  const t0 = now();
  const pre = await seq.prefill(prompt, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onPromptProgress ? { onProgress: opts.onPromptProgress } : {}) });
  let logits = pre.logits;
  const t1 = now();
  let generated = 0;
  let finishReason: FinishReason = 'length';
  while (generated < maxTokens) {
    throwIfAborted(opts.signal);
    // embeddings padded past the tokenizer's vocabulary have rows no text maps to: never sample them
    const token = sampler.sample(logits.length > tokenizer.vocabSize ? logits.subarray(0, tokenizer.vocabSize) : logits, history);
    if (eog.has(token)) {
      finishReason = 'stop';
      break;
    }
    generated++;
    history.push(token);
    const text = matcher.push(decoder.push(token));
    if (matcher.stopped) {
      finishReason = 'stop';
      // yielded even without text, so the chunks account for every generated token
      yield { text, tokens: [token], done: false };
      break;
    }
    yield { text, tokens: [token], done: false };
    if (generated >= maxTokens || seq.tokens.length >= seq.contextSize) break;
    logits = seq.step(token);
    await yieldToEventLoop();
  }
  const rest = matcher.stopped ? '' : matcher.push(decoder.flush()) + matcher.flush();
  const t2 = now();
  const promptEvaluated = prompt.length - pre.reused;
  const stats: GenerationStats = {
    promptTokens: prompt.length,
    cachedTokens: pre.reused,
    generatedTokens: generated,
    promptMs: t1 - t0,
    generateMs: t2 - t1,
    totalMs: t2 - t0,
    promptTokensPerSecond: t1 > t0 ? (promptEvaluated * 1000) / (t1 - t0) : 0,
    tokensPerSecond: t2 > t1 ? (generated * 1000) / (t2 - t1) : 0,
    finishReason,
    seed: sampler.seed,
  };
  yield { text: rest, tokens: [], done: true, finishReason, stats };
}
