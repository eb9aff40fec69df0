// BitnetModel: the public handle on a loaded model. Tokenize, render chat prompts, evaluate logits of
// every position, and generate (an async iterator of text pieces with token ids, ending with stats,
// cancellable through an AbortSignal). Generation calls on one model run one at a time on a shared
// sequence that reuses the cached prompt prefix; ChatSession keeps its own KV cache between turns (and
// goes on past the context with context shifts).
import { BitnetError } from '../errors.js';
import type { GgufValue } from '../formats/gguf.js';
import { ARCH_KEY, archKey, KEY } from '../formats/names.js';
import { generateFromTokens, type GenerateOptions, type GenerationChunk } from '../generate/generate.js';
import { Scheduler, type SchedulerOptions } from '../generate/scheduler.js';
import { checkKeep, keepCount } from '../generate/context-shift.js';
import { Sequence } from '../generate/sequence.js';
import type { Backend } from '../kernels/backend.js';
import type { LoadedWeights, TraceFn } from '../model/forward.js';
import type { HParams } from '../model/hparams.js';
import type { KvType, KvTypes } from '../model/kv-cache.js';
import { checkPooling, poolingFromGguf, type Pooling } from '../model/pooling.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { ChatContentGuard } from './chat-guard.js';
import type { ChatFormatter, ChatMessage } from './chat-template.js';

export type Prompt = string | readonly ChatMessage[] | { tokens: readonly number[] };

export interface TensorDescription {
  name: string;
  shape: number[];
  type: string;
  bytes: number;
}

export interface ModelInit {
  path: string;
  format: 'gguf' | 'safetensors';
  fileSize: number;
  metadata: Map<string, GgufValue>;
  tensors: TensorDescription[];
  weights: LoadedWeights;
  tokenizer: Tokenizer;
  chatFormat: ChatFormatter;
  extraStopTokens: number[];
  contextSize: number;
  kvTypes: KvTypes;
  batchSize: number;
  warnings: string[];
  loadMs: number;
  /** frees the backend's memory and closes the model file */
  release: () => Promise<void>;
}

export interface EvaluateOptions {
  trace?: TraceFn;
  /** the cache's K/V types for this evaluation (default the model's) */
  kvType?: KvType | KvTypes;
}

export interface EmbedOptions {
  /** default: the model's poolingType, else 'mean' */
  pooling?: Pooling;
  /** L2-normalise each vector; default true */
  normalize?: boolean;
  signal?: AbortSignal;
}

/** A tiny async mutex so generations on the shared sequence run one after another. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => next);
    await prev;
    return release;
  }
}

export class BitnetModel {
  readonly path: string;
  readonly format: 'gguf' | 'safetensors';
  readonly fileSize: number;
  readonly metadata: Map<string, GgufValue>;
  readonly tensors: readonly TensorDescription[];
  readonly hparams: HParams;
  readonly tokenizer: Tokenizer;
  readonly chatFormat: ChatFormatter;
  readonly backend: Backend;
  readonly contextSize: number;
  /** the K and V storage types of the model's caches (default f16, bitnet.cpp's) */
  readonly kvTypes: KvTypes;
  readonly warnings: readonly string[];
  readonly loadMs: number;
  /** the pooling the file declares for embeddings (GGUF `<arch>.pooling_type`), when it declares one */
  readonly poolingType: Pooling | undefined;
  private readonly weights: LoadedWeights;
  private readonly extraStopTokens: number[];
  private readonly batchSize: number;
  private shared: Sequence | undefined;
  private readonly lock = new Lock();
  private readonly release: () => Promise<void>;
  private disposed = false;

  constructor(init: ModelInit) {
    this.path = init.path;
    this.format = init.format;
    this.fileSize = init.fileSize;
    this.metadata = init.metadata;
    this.tensors = init.tensors;
    this.weights = init.weights;
    this.hparams = init.weights.hp;
    this.backend = init.weights.backend;
    this.tokenizer = init.tokenizer;
    this.chatFormat = init.chatFormat;
    this.extraStopTokens = init.extraStopTokens;
    this.contextSize = init.contextSize;
    this.kvTypes = init.kvTypes;
    this.batchSize = init.batchSize;
    this.warnings = init.warnings;
    this.loadMs = init.loadMs;
    this.release = init.release;
    const pooling = this.metadata.get(archKey(String(this.metadata.get(KEY.architecture)), ARCH_KEY.poolingType));
    this.poolingType = typeof pooling === 'number' ? poolingFromGguf(pooling) : undefined;
  }

  /** Frees the model's memory (weights, KV caches) and closes its file; the model is unusable afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const release = await this.lock.acquire();
    try {
      this.shared?.dispose();
      this.shared = undefined;
      await this.release();
    } finally {
      release();
    }
  }

  /**
   * Bytes the model holds: its matrices as the backend stores them (ternary codes, the lm_head), its vectors,
   * the KV cache of model.generate's sequence, and the backend's whole device memory where it reports one
   * (the WASM heap: weights, caches and buffers together). `lmHead`: the part of `weights` that is the lm_head
   * (for a tied model, its own copy of the embedding: int8 rows, or the packed exact matrix).
   */
  memoryUsage(): { weights: number; kvCache: number; device: number | undefined; lmHead: number } {
    const w = this.weights.w;
    const b = this.backend;
    const lmHead = b.matrixBytes(w.output);
    let weights = lmHead + 4 * w.outputNorm.length;
    for (const l of w.layers) {
      for (const m of [l.wq, l.wk, l.wv, l.wo, l.wgate, l.wup, l.wdown]) weights += b.matrixBytes(m);
      for (const v of [l.attnNorm, l.ffnNorm, l.attnSubNorm, l.ffnSubNorm]) weights += 4 * (v?.length ?? 0);
    }
    return { weights, kvCache: this.shared?.kv.bytes() ?? 0, device: b.memoryBytes?.(), lmHead };
  }

  /** Number of parameters stored in the file. */
  get parameterCount(): number {
    return this.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  }

  /** Token ids that end generation (end of text, end of turn). */
  get stopTokens(): number[] {
    return [...new Set([...this.tokenizer.stopTokens, ...this.extraStopTokens])];
  }

  tokenize(text: string, opts: { addBos?: boolean; parseSpecial?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, opts);
  }

  detokenize(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    return this.tokenizer.decode(ids, opts);
  }

  /**
   * The chat as the template renders it, as text. Tokenizing this text with parseSpecial would turn special
   * tokens typed in messages into control tokens; tokenizePrompt(messages) keeps them text (chat-guard.ts).
   */
  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string {
    return this.chatFormat.render(messages, opts.addGenerationPrompt ?? true);
  }

  /**
   * Prompt -> token ids. Strings are tokenized with special tokens parsed (as llama.cpp's CLI does) and BOS
   * per the model; chat messages go through the chat template, adding BOS only if the template did not, and
   * their content is tokenized as text (a `<|eot_id|>` typed in a message is text, not the end of a turn).
   */
  tokenizePrompt(prompt: Prompt): number[] {
    if (typeof prompt === 'string') return this.tokenizer.encode(prompt, { parseSpecial: true });
    if ('tokens' in prompt) {
      const ids = [...prompt.tokens];
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= this.hparams.nVocab) {
          throw new BitnetError('INVALID_ARGUMENT', `token id ${id} is out of range [0, ${this.hparams.nVocab})`, { name: 'tokens' });
        }
      }
      return ids;
    }
    // message content is text: only the template's markup makes special tokens (chat-guard.ts)
    const guard = new ChatContentGuard(this.tokenizer);
    const text = this.chatFormat.render(guard.messages(prompt), true);
    const bos = this.tokenizer.bos;
    const startsWithBos = bos !== null && text.startsWith(this.tokenizer.tokenText(bos));
    return this.tokenizer.encodeSegments(guard.segments(text), { addBos: this.tokenizer.addBos && !startsWithBos });
  }

  /** A new sequence (its own KV cache) on this model, for sessions and servers. */
  createSequence(opts: { contextSize?: number; kvType?: KvType | KvTypes; keepHistory?: boolean } = {}): Sequence {
    const contextSize = opts.contextSize ?? this.contextSize;
    if (!Number.isInteger(contextSize) || contextSize < 1) throw new BitnetError('INVALID_ARGUMENT', `invalid context size ${contextSize}`, { name: 'contextSize' });
    return new Sequence(this.weights, { contextSize, kvType: opts.kvType ?? this.kvTypes, batchSize: this.batchSize, ...(opts.keepHistory ? { keepHistory: true } : {}) });
  }

  /**
   * Logits of every position of `tokens` [T][nVocab], evaluated from an empty cache in batches (ggml's
   * multi-row numerics: the lm_head input stays f32 when a batch has several rows).
   */
  async evaluate(tokens: ArrayLike<number>, opts: EvaluateOptions = {}): Promise<Float32Array[]> {
    const ids = this.tokenizePrompt({ tokens: Array.from(tokens) });
    if (ids.length === 0) return [];
    const seq = this.createSequence({ contextSize: Math.max(ids.length, 1), ...(opts.kvType ? { kvType: opts.kvType } : {}) });
    try {
      return await seq.evaluateAll(ids, opts.trace);
    } finally {
      seq.dispose();
    }
  }

  /**
   * An embedding of the input (text: tokenized as a prompt, BOS per the model; or token ids): the final
   * hidden states after output_norm (no lm_head), pooled ('mean' | 'last' | 'cls', or 'none': every
   * position's row, [T, nEmbd]) and L2-normalised unless `normalize` is false. Runs on its own KV cache,
   * one call at a time with generations on this model.
   */
  async embed(input: string | readonly number[], opts: EmbedOptions = {}): Promise<Float32Array> {
    const tokens = this.tokenizePrompt(typeof input === 'string' ? input : { tokens: input });
    const pooling = checkPooling(opts.pooling ?? this.poolingType ?? 'mean');
    if (tokens.length > this.contextSize) {
      throw new BitnetError('CONTEXT_OVERFLOW', `the input has ${tokens.length} tokens but the context size is ${this.contextSize}`);
    }
    const release = await this.lock.acquire();
    const seq = this.createSequence({ contextSize: Math.max(tokens.length, 1) });
    try {
      return await seq.embed(tokens, { pooling, normalize: opts.normalize ?? true, ...(opts.signal ? { signal: opts.signal } : {}) });
    } finally {
      seq.dispose();
      release();
    }
  }

  /** Generates from a prompt (text, chat messages or token ids); the last chunk has `done` and `stats`. */
  async *generate(prompt: Prompt, opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, void, undefined> {
    const tokens = this.tokenizePrompt(prompt);
    const release = await this.lock.acquire();
    try {
      this.shared ??= this.createSequence();
      yield* generateFromTokens(this.shared, this.tokenizer, tokens, opts, this.stopTokens);
    } finally {
      release();
    }
  }

  /** Generates on a caller-owned sequence (prefix reuse across calls on that sequence). */
  generateOn(seq: Sequence, prompt: Prompt, opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, void, undefined> {
    return generateFromTokens(seq, this.tokenizer, this.tokenizePrompt(prompt), opts, this.stopTokens);
  }

  /** Generates and collects the whole text. */
  async complete(prompt: Prompt, opts: GenerateOptions = {}): Promise<{ text: string; tokens: number[]; stats: NonNullable<GenerationChunk['stats']> }> {
    let text = '';
    const tokens: number[] = [];
    for await (const c of this.generate(prompt, opts)) {
      text += c.text;
      tokens.push(...c.tokens);
      if (c.stats) return { text, tokens, stats: c.stats };
    }
    throw new BitnetError('INVALID_ARGUMENT', 'generation ended without stats');
  }

  /**
   * A continuous-batching scheduler over `parallel` slots of this model (for servers): submit() takes token
   * ids, so prompts are tokenized with tokenizePrompt() first. Dispose it before the model.
   */
  createScheduler(opts: Partial<Omit<SchedulerOptions, 'endOfGeneration'>> = {}): Scheduler {
    return new Scheduler(this.weights, this.tokenizer, {
      parallel: opts.parallel ?? 1,
      contextSize: opts.contextSize ?? this.contextSize,
      kvType: opts.kvType ?? this.kvTypes,
      batchSize: opts.batchSize ?? this.batchSize,
      ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}),
      ...(opts.contextShift !== undefined ? { contextShift: opts.contextShift } : {}),
      ...(opts.nKeep !== undefined ? { nKeep: opts.nKeep } : {}),
      endOfGeneration: this.stopTokens,
    });
  }

  createChat(opts: { system?: string; contextSize?: number } = {}): ChatSession {
    return new ChatSession(this, this.createSequence({ keepHistory: true, ...(opts.contextSize !== undefined ? { contextSize: opts.contextSize } : {}) }), opts.system);
  }

}

/**
 * A multi-turn conversation that keeps its KV cache between turns (only new tokens are evaluated). With
 * contextShift it goes on past the context as llama-cli does: a full cache drops half of what follows the
 * kept tokens (nKeep as given, else the system prompt's tokens, BOS included, fixed at the first turn), and
 * later turns continue the shifted cache (Sequence's keepHistory).
 */
export class ChatSession {
  readonly messages: ChatMessage[] = [];
  /** tokens context shifts keep, resolved at the first turn that shifts */
  private keep: number | undefined;

  constructor(
    readonly model: BitnetModel,
    readonly sequence: Sequence,
    system?: string,
  ) {
    if (system) this.messages.push({ role: 'system', content: system });
  }

  /** The system prompt's tokens at the start of `prompt` (BOS included), or the BOS alone. */
  private systemTokens(prompt: readonly number[]): number {
    const tk = this.model.tokenizer;
    const bos = tk.bos !== null && prompt[0] === tk.bos ? 1 : 0;
    if (this.messages[0]?.role !== 'system') return bos;
    const text = this.model.applyChatTemplate([this.messages[0]], { addGenerationPrompt: false });
    const ids = tk.encode(text, { parseSpecial: true, addBos: tk.addBos && !(tk.bos !== null && text.startsWith(tk.tokenText(tk.bos))) });
    let n = 0;
    while (n < ids.length && n < prompt.length && ids[n] === prompt[n]) n++;
    return Math.max(n, bos);
  }

  async *send(userText: string, opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, void, undefined> {
    this.messages.push({ role: 'user', content: userText });
    let reply = '';
    let started = false;
    try {
      const prompt = this.model.tokenizePrompt(this.messages);
      if (opts.contextShift) {
        const bos = this.model.tokenizer.bos;
        this.keep ??= opts.nKeep !== undefined ? keepCount(prompt, checkKeep(opts.nKeep), bos) : this.systemTokens(prompt);
        // as nKeep for this prompt: keepCount adds the BOS back
        opts = { ...opts, nKeep: this.keep - (bos !== null && prompt[0] === bos ? 1 : 0) };
      }
      for await (const chunk of this.model.generateOn(this.sequence, { tokens: prompt }, opts)) {
        started = true;
        reply += chunk.text;
        yield chunk;
      }
    } finally {
      // a turn that produced text (even if aborted) stays in the history; one that failed before is undone
      if (started) this.messages.push({ role: 'assistant', content: reply });
      else this.messages.pop();
    }
  }
}
