// Continuous batching (llama-server's slots): N sequences decode together, one batched forward step per
// token; a request joins a free slot between steps (its prompt evaluated in chunks mixed into the steps)
// and leaves when it finishes or is cancelled, without stalling the others. Behind the slots, a bounded
// FIFO queue; when it is full, submit() throws QUEUE_FULL. Each slot keeps its KV cache, and a request
// goes to the free slot whose cache shares the longest prefix with its prompt.
import { BitnetError } from '../errors.js';
import { forwardBatch, type BatchItem, type LoadedWeights } from '../model/forward.js';
import type { KvType } from '../model/kv-cache.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { GenerationState, now, type GenerateOptions, type GenerationChunk } from './generate.js';
import { checkPrompt, Sequence, yieldToEventLoop } from './sequence.js';

export interface SchedulerOptions {
  /** slots decoded together (llama.cpp's --parallel) */
  parallel: number;
  /** context size of each slot */
  contextSize: number;
  kvType: KvType;
  /** prompt tokens per forward step, over all slots (llama.cpp's n_ubatch); default 512 */
  batchSize?: number;
  /** requests that may wait for a slot; more get QUEUE_FULL. Default 64 */
  maxQueue?: number;
  /** the model's end-of-generation tokens */
  endOfGeneration: readonly number[];
}

/** Counters for /metrics: totals since start, and the current state. */
export interface SchedulerStats {
  slots: number;
  busySlots: number;
  queued: number;
  requestsStarted: number;
  requestsFinished: number;
  requestsCancelled: number;
  requestsFailed: number;
  rejectedQueueFull: number;
  promptTokens: number;
  cachedPromptTokens: number;
  generatedTokens: number;
  steps: number;
  /** seconds spent in forward steps */
  busySeconds: number;
  /** generated tokens per second over the last few seconds of activity */
  recentTokensPerSecond: number;
}

/** The stream of one request's chunks; cancelling (or leaving a for-await loop) frees its slot. */
export interface GenerationHandle extends AsyncIterable<GenerationChunk> {
  readonly id: number;
  /** the prompt's token count */
  readonly promptTokens: number;
  cancel(): void;
}

type Phase = 'queued' | 'prompt' | 'decode' | 'done';

interface Request {
  id: number;
  prompt: number[];
  state: GenerationState;
  opts: GenerateOptions;
  phase: Phase;
  slot: Slot | undefined;
  /** next prompt position to evaluate */
  next: number;
  reused: number;
  start: number;
  promptDone: number;
  cancelled: boolean;
  out: ChunkQueue;
  /** removes the abort listener from the caller's signal (which may outlive the request) */
  unlisten: () => void;
}

interface Slot {
  seq: Sequence;
  req: Request | undefined;
  lastUsed: number;
}

/** A one-consumer queue of chunks that ends normally or with an error. */
class ChunkQueue {
  private readonly items: GenerationChunk[] = [];
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  push(c: GenerationChunk): void {
    this.items.push(c);
    this.notify();
  }
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.notify();
  }
  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
  async *drain(): AsyncGenerator<GenerationChunk, void, undefined> {
    for (;;) {
      if (this.items.length > 0) yield this.items.shift()!;
      else if (this.ended) {
        if (this.error !== undefined) throw this.error;
        return;
      } else await new Promise<void>((r) => (this.wake = r));
    }
  }
}

const RATE_WINDOW_MS = 5000;

export class Scheduler {
  readonly parallel: number;
  readonly contextSize: number;
  readonly batchSize: number;
  readonly maxQueue: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Request[] = [];
  private readonly active = new Set<Request>();
  private running = false;
  private closed = false;
  private nextId = 1;
  private idleWaiters: Array<() => void> = [];
  private readonly counters = { requestsStarted: 0, requestsFinished: 0, requestsCancelled: 0, requestsFailed: 0, rejectedQueueFull: 0, promptTokens: 0, cachedPromptTokens: 0, generatedTokens: 0, steps: 0, busyMs: 0 };
  /** (time, generated tokens) of recent steps, for the recent rate */
  private readonly recent: Array<[number, number]> = [];

  constructor(
    private readonly model: LoadedWeights,
    private readonly tokenizer: Tokenizer,
    private readonly opts: SchedulerOptions,
  ) {
    const bad = (name: string, v: number, min: number) => {
      if (!Number.isInteger(v) || v < min) throw new BitnetError('INVALID_ARGUMENT', `must be an integer >= ${min}, got ${v}`, { name });
    };
    bad('parallel', opts.parallel, 1);
    bad('contextSize', opts.contextSize, 1);
    this.parallel = opts.parallel;
    this.contextSize = opts.contextSize;
    this.batchSize = opts.batchSize ?? 512;
    this.maxQueue = opts.maxQueue ?? 64;
    bad('batchSize', this.batchSize, 1);
    bad('maxQueue', this.maxQueue, 0);
    for (let i = 0; i < opts.parallel; i++) {
      // KV caches grow on demand: an idle slot holds only what its last request used
      this.slots.push({ seq: new Sequence(model, { contextSize: opts.contextSize, kvType: opts.kvType, batchSize: this.batchSize }), req: undefined, lastUsed: 0 });
    }
  }

  /**
   * Queues a generation. Throws at once (before any chunk) when the prompt cannot fit a slot's context,
   * the options are invalid, the queue is full (QUEUE_FULL) or the scheduler is closed (UNAVAILABLE).
   */
  submit(prompt: readonly number[], opts: GenerateOptions = {}): GenerationHandle {
    if (this.closed) throw new BitnetError('UNAVAILABLE', 'the server is shutting down');
    checkPrompt(prompt, this.contextSize);
    const state = new GenerationState(this.tokenizer, prompt, opts, this.opts.endOfGeneration); // validates the options
    const free = this.slots.filter((s) => !s.req).length;
    if (this.queue.length - free >= this.maxQueue) {
      this.counters.rejectedQueueFull++;
      throw new BitnetError('QUEUE_FULL', `all ${this.parallel} slots are busy and ${this.queue.length - free} requests are waiting (--max-queue ${this.maxQueue})`);
    }
    const req: Request = { id: this.nextId++, prompt: [...prompt], state, opts, phase: 'queued', slot: undefined, next: 0, reused: 0, start: now(), promptDone: 0, cancelled: false, out: new ChunkQueue(), unlisten: () => {} };
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = (): void => this.cancel(req);
      signal.addEventListener('abort', onAbort, { once: true });
      req.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    this.queue.push(req);
    this.counters.requestsStarted++;
    if (opts.signal?.aborted) this.cancel(req);
    this.kick();
    const chunks = req.out.drain();
    const cancel = (): void => this.cancel(req);
    return {
      id: req.id,
      promptTokens: prompt.length,
      cancel,
      async *[Symbol.asyncIterator]() {
        try {
          yield* chunks;
        } finally {
          cancel(); // a consumer that stops reading frees the slot (a no-op once finished)
        }
      },
    };
  }

  /** Current state and totals. */
  stats(): SchedulerStats {
    const c = this.counters;
    const t = now();
    while (this.recent.length && this.recent[0]![0] < t - RATE_WINDOW_MS) this.recent.shift();
    const tokens = this.recent.reduce((a, [, n]) => a + n, 0);
    const span = this.recent.length ? Math.max(t - this.recent[0]![0], 1000) : 1;
    return {
      slots: this.parallel,
      busySlots: this.slots.filter((s) => s.req).length,
      queued: this.queue.length,
      requestsStarted: c.requestsStarted,
      requestsFinished: c.requestsFinished,
      requestsCancelled: c.requestsCancelled,
      requestsFailed: c.requestsFailed,
      rejectedQueueFull: c.rejectedQueueFull,
      promptTokens: c.promptTokens,
      cachedPromptTokens: c.cachedPromptTokens,
      generatedTokens: c.generatedTokens,
      steps: c.steps,
      busySeconds: c.busyMs / 1000,
      recentTokensPerSecond: this.recent.length ? (tokens * 1000) / span : 0,
    };
  }

  /** Resolves when no request is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Stops accepting requests; with `cancel`, ends the running ones with ABORTED. Resolves when idle. */
  async close(opts: { cancel?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (opts.cancel) for (const r of [...this.queue, ...this.active]) this.cancel(r);
    await this.idle();
  }

  /** Cancels everything and frees the KV caches; the scheduler is unusable afterwards. */
  async dispose(): Promise<void> {
    await this.close({ cancel: true });
    for (const s of this.slots) s.seq.dispose();
    this.slots.length = 0;
  }

  private cancel(req: Request): void {
    if (req.phase === 'done' || req.cancelled) return;
    req.cancelled = true;
    if (req.phase === 'queued') {
      // never started: leave at once
      this.queue.splice(this.queue.indexOf(req), 1);
      this.finishRequest(req, new BitnetError('ABORTED', 'request cancelled'));
    }
    // a running request leaves at the next step boundary (the step in flight cannot be interrupted)
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        for (const r of [...this.active]) if (r.cancelled) this.finishRequest(r, new BitnetError('ABORTED', 'request cancelled'));
        this.admit();
        if (this.active.size === 0) break;
        await this.step();
        await yieldToEventLoop();
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0 || this.active.size > 0) this.kick();
      else for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * Moves queued requests, oldest first, into free slots: the one whose cache shares the longest prefix when
   * that covers at least half the prompt (llama-server's similarity rule), else the least recently used,
   * so a short shared start (BOS, a system line) does not evict a conversation another client will resume.
   */
  private admit(): void {
    while (this.queue.length > 0) {
      const free = this.slots.filter((s) => !s.req);
      if (free.length === 0) return;
      const req = this.queue.shift()!;
      let best = free[0]!;
      let bestLen = -1;
      for (const s of free) {
        const n = s.seq.commonPrefix(req.prompt);
        if (n > bestLen) {
          best = s;
          bestLen = n;
        }
      }
      if (bestLen * 2 < req.prompt.length) best = free.reduce((a, s) => (s.lastUsed < a.lastUsed ? s : a));
      best.req = req;
      req.slot = best;
      req.phase = 'prompt';
      req.reused = best.seq.beginPrefill(req.prompt);
      req.next = req.reused;
      req.start = now();
      this.counters.promptTokens += req.prompt.length;
      this.counters.cachedPromptTokens += req.reused;
      this.active.add(req);
    }
  }

  /** One forward step: a token for every decoding slot, plus prompt chunks up to the batch size. */
  private async step(): Promise<void> {
    const batch: Array<{ req: Request; item: BatchItem }> = [];
    let promptBudget = this.batchSize;
    for (const req of this.active) {
      const seq = req.slot!.seq;
      if (req.phase === 'decode') {
        batch.push({ req, item: { kv: seq.kv, tokens: [req.state.token], logits: 'last' } });
      }
    }
    // prompt chunks in arrival order; each is the chunk a lone sequence would evaluate (same numerics)
    for (const req of this.active) {
      if (req.phase !== 'prompt') continue;
      const n = Math.min(this.batchSize, req.prompt.length - req.next);
      if (n > promptBudget && promptBudget < this.batchSize) break;
      promptBudget -= n;
      const last = req.next + n === req.prompt.length;
      batch.push({ req, item: { kv: req.slot!.seq.kv, tokens: req.prompt.slice(req.next, req.next + n), logits: last ? 'last' : 'none' } });
      if (promptBudget <= 0) break;
    }
    const t0 = now();
    let logits: Float32Array[];
    try {
      logits = await forwardBatch(this.model, batch.map((b) => b.item));
    } catch (e) {
      // a failed step poisons the caches of every sequence in it: fail those requests and reset their slots
      for (const { req } of batch) {
        req.slot!.seq.truncate(0);
        this.finishRequest(req, e);
      }
      return;
    }
    const t1 = now();
    this.counters.steps++;
    this.counters.busyMs += t1 - t0;
    let generated = 0;
    batch.forEach(({ req, item }, i) => {
      const seq = req.slot!.seq;
      for (let t = 0; t < item.tokens.length; t++) seq.tokens.push(item.tokens[t]!);
      if (req.phase === 'prompt') {
        req.next += item.tokens.length;
        req.opts.onPromptProgress?.({ done: req.next - req.reused, total: req.prompt.length - req.reused });
        if (req.next < req.prompt.length) return;
        req.phase = 'decode';
        req.promptDone = t1;
      }
      if (req.cancelled) return; // leaves at the top of the next loop
      let chunk: GenerationChunk | undefined;
      try {
        chunk = req.state.next(logits[i]!, seq.tokens.length < seq.contextSize);
      } catch (e) {
        this.finishRequest(req, e);
        return;
      }
      if (chunk) {
        generated++;
        req.out.push(chunk);
      }
      if (req.state.done) this.finishRequest(req);
    });
    this.counters.generatedTokens += generated;
    this.recent.push([t1, generated]);
    if (this.recent.length > 4096) this.recent.shift();
  }

  /** Ends a request: the final chunk (or an error) to its consumer, and its slot freed (its cache kept for reuse). */
  private finishRequest(req: Request, error?: unknown): void {
    if (req.phase === 'done') return;
    req.phase = 'done';
    req.unlisten();
    this.active.delete(req);
    if (req.slot) {
      req.slot.req = undefined;
      req.slot.lastUsed = now();
    }
    if (error === undefined) {
      this.counters.requestsFinished++;
      req.out.push(req.state.finish({ reused: req.reused, start: req.start, promptDone: req.promptDone || now(), end: now() }));
      req.out.end();
    } else {
      if (error instanceof BitnetError && error.code === 'ABORTED') this.counters.requestsCancelled++;
      else this.counters.requestsFailed++;
      req.out.end(error);
    }
  }
}
