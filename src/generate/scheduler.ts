// Continuous batching (llama-server's slots): N sequences decode together, one batched forward step per
// token; a request joins a free slot between steps (its prompt evaluated in chunks mixed into the steps)
// and leaves when it finishes or is cancelled, without stalling the others. Behind the slots, a bounded
// FIFO queue; when it is full, submit() throws QUEUE_FULL. Each slot keeps its KV cache, and a request
// goes to the free slot whose cache shares the longest prefix with its prompt. submitGroup() runs n
// generations on one prompt evaluated once (its K/V copied between slots); embed() evaluates a text's
// final hidden states through the same steps. With contextShift, a slot whose cache is full drops half of
// what follows its request's kept tokens and decodes on (llama-server's per-slot context shift).
import { BitnetError } from '../errors.js';
import { forwardBatch, type BatchItem, type LoadedWeights } from '../model/forward.js';
import type { KvType, KvTypes } from '../model/kv-cache.js';
import { checkPooling, Pooler, type Pooling } from '../model/pooling.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { GenerationState, now, type GenerateOptions, type GenerationChunk } from './generate.js';
import type { PromptScorer, TokenLogprob } from './logprobs.js';
import { ChunkQueue } from './chunk-queue.js';
import { checkKeep, discardCount, keepCount } from './context-shift.js';
import { checkPrompt, prefillChunk, Sequence, yieldToEventLoop } from './sequence.js';

export interface SchedulerOptions {
  /** slots decoded together (llama.cpp's --parallel) */
  parallel: number;
  /** context size of each slot */
  contextSize: number;
  /** each slot's K/V storage: one type for both, or a pair */
  kvType: KvType | KvTypes;
  /** prompt tokens per forward step, over all slots (llama.cpp's n_ubatch); default 512 */
  batchSize?: number;
  /** requests that may wait for a slot; more get QUEUE_FULL. Default 64 */
  maxQueue?: number;
  /** the model's end-of-generation tokens */
  endOfGeneration: readonly number[];
  /** context shift for requests that do not say (GenerateOptions.contextShift); default false */
  contextShift?: boolean;
  /** n_keep for requests that do not say (GenerateOptions.nKeep); default 0 */
  nKeep?: number;
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
  /** bytes the slots' KV caches hold now (they grow with use) */
  kvCacheBytes: number;
  /** bytes the slots' KV caches would hold with every position of every context in use */
  kvCacheCapacityBytes: number;
}

/** The stream of one request's chunks; cancelling (or leaving a for-await loop) frees its slot. */
export interface GenerationHandle extends AsyncIterable<GenerationChunk> {
  readonly id: number;
  /** the prompt's token count */
  readonly promptTokens: number;
  cancel(): void;
}

/** queued, waiting in a slot for its group's prompt, evaluating its prompt, decoding, finished */
type Phase = 'queued' | 'wait' | 'prompt' | 'decode' | 'done';

/**
 * The members of one submitGroup(): the prompt is evaluated once, by the leader, and its K/V copied into the
 * other members' slots; each member draws its first token from the same logits row.
 */
interface Group {
  prompt: number[];
  /** the member evaluating the prompt for the group, while one does */
  leader: Request | undefined;
  /** members in slots waiting for the leader's prompt */
  waiting: Set<Request>;
  /** members that have not drawn their first token yet */
  members: Set<Request>;
  /** logits of the prompt's last token, kept while members have yet to draw their first token */
  logits: Float32Array | undefined;
  promptLogprobs: Array<TokenLogprob | null> | undefined;
}

/** An embeddings request: its rows pooled as the prompt chunks are evaluated. */
interface Embedding {
  pooler: Pooler;
  normalize: boolean;
  resolve: (v: Float32Array) => void;
  reject: (e: unknown) => void;
}

interface Request {
  id: number;
  prompt: number[];
  /** the generation (undefined for an embeddings request) */
  state: GenerationState | undefined;
  embedding: Embedding | undefined;
  opts: Pick<GenerateOptions, 'signal' | 'onPromptProgress'>;
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
  group: Group | undefined;
  /** with promptLogprobs: the prompt's entries, row by row */
  scorer: PromptScorer | undefined;
  /** tokens a context shift keeps (undefined: no context shift; the context ends the generation) */
  keep: number | undefined;
}

interface Slot {
  seq: Sequence;
  req: Request | undefined;
  lastUsed: number;
  /** the group whose prompt this cache holds (the leader evaluated it here, or it was copied here) */
  group: Group | undefined;
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
    if (checkKeep(opts.nKeep) >= opts.contextSize) throw new BitnetError('INVALID_ARGUMENT', `must be below the context size ${opts.contextSize}, got ${opts.nKeep}`, { name: 'nKeep' });
    for (let i = 0; i < opts.parallel; i++) {
      // KV caches grow on demand: an idle slot holds only what its last request used
      this.slots.push({ seq: new Sequence(model, { contextSize: opts.contextSize, kvType: opts.kvType, batchSize: this.batchSize }), req: undefined, lastUsed: 0, group: undefined });
    }
  }

  /**
   * Queues a generation. Throws at once (before any chunk) when the prompt cannot fit a slot's context,
   * the options are invalid, the queue is full (QUEUE_FULL) or the scheduler is closed (UNAVAILABLE).
   */
  submit(prompt: readonly number[], opts: GenerateOptions = {}): GenerationHandle {
    this.checkOpen();
    checkPrompt(prompt, this.contextSize);
    const state = new GenerationState(this.tokenizer, prompt, opts, this.opts.endOfGeneration); // validates the options
    const keep = this.keepFor(prompt, opts);
    this.checkQueue(1);
    const handle = this.handle(this.enqueue(prompt, opts, state, undefined, undefined, keep));
    this.kick();
    return handle;
  }

  /**
   * Queues n generations from one prompt (OpenAI's `n`), evaluated once: its K/V is copied into the other
   * members' slots and each member draws its tokens independently from the same first logits. With a seed,
   * member i samples with seed + i (so member i gives what submit() gives alone with that seed); without
   * one, each member draws its own random seed. All n count against the queue; members beyond the free
   * slots wait in it and, once they get a slot, copy the prompt's K/V from a member's slot that still holds
   * it (or evaluate it again, reusing the longest cached prefix, when none does). Throws as submit() does,
   * and INVALID_ARGUMENT when n exceeds the slots plus the queue (it could never be admitted).
   */
  submitGroup(prompt: readonly number[], opts: GenerateOptions, n: number): GenerationHandle[] {
    this.checkOpen();
    if (!Number.isInteger(n) || n < 1) throw new BitnetError('INVALID_ARGUMENT', `must be an integer >= 1, got ${n}`, { name: 'n' });
    if (n > this.parallel + this.maxQueue) {
      throw new BitnetError('INVALID_ARGUMENT', `n = ${n} is more than the ${this.parallel} slots and the queue of ${this.maxQueue} can hold`, { name: 'n' });
    }
    checkPrompt(prompt, this.contextSize);
    const seeded = opts.seed !== undefined && opts.seed >= 0;
    const states = Array.from({ length: n }, (_, i) => new GenerationState(this.tokenizer, prompt, seeded ? { ...opts, seed: opts.seed! + i } : opts, this.opts.endOfGeneration));
    const keep = this.keepFor(prompt, opts);
    this.checkQueue(n);
    const group: Group = { prompt: [...prompt], leader: undefined, waiting: new Set(), members: new Set(), logits: undefined, promptLogprobs: undefined };
    // every member queued before the loop runs, so the leader's prompt is kept for all of them
    const handles = states.map((state) => this.handle(this.enqueue(prompt, opts, state, group, undefined, keep)));
    this.kick();
    return handles;
  }

  /**
   * The pooled final hidden states of `tokens` (after output_norm, before the lm_head; model/pooling.ts):
   * [nEmbd], or [T, nEmbd] for pooling 'none'; L2-normalised unless normalize is false. Evaluated in the
   * scheduler's steps like a prompt (in a slot, from an empty cache), so it never races the generations.
   */
  async embed(tokens: readonly number[], opts: { pooling: Pooling; normalize?: boolean; signal?: AbortSignal }): Promise<Float32Array> {
    this.checkOpen();
    checkPrompt(tokens, this.contextSize);
    const pooler = new Pooler(checkPooling(opts.pooling), tokens.length, this.model.hp.nEmbd);
    for (const id of tokens) {
      if (!(Number.isInteger(id) && id >= 0 && id < this.model.hp.nVocab)) throw new BitnetError('INVALID_ARGUMENT', `token id ${id} is out of range [0, ${this.model.hp.nVocab})`, { name: 'tokens' });
    }
    this.checkQueue(1);
    return new Promise((resolve, reject) => {
      this.enqueue(tokens, opts.signal ? { signal: opts.signal } : {}, undefined, undefined, { pooler, normalize: opts.normalize ?? true, resolve, reject });
      this.kick();
    });
  }

  /** The tokens a context shift keeps for this request, or undefined when it runs without shifts. */
  private keepFor(prompt: readonly number[], opts: GenerateOptions): number | undefined {
    // as llama-server: a generation without a token limit stops at the end of the context even with context
    // shift (no EOS-less endless loop); shifts serve a max_tokens beyond the context
    if (!(opts.contextShift ?? this.opts.contextShift ?? false) || opts.maxTokens === undefined) return undefined;
    const keep = keepCount(prompt, checkKeep(opts.nKeep ?? this.opts.nKeep), this.tokenizer.bos);
    // nothing to drop when the kept tokens leave less than two positions: the context ends it ('length')
    return discardCount(this.contextSize, keep) >= 1 ? keep : undefined;
  }

  private checkOpen(): void {
    if (this.closed) throw new BitnetError('UNAVAILABLE', 'the server is shutting down');
  }

  /** Throws QUEUE_FULL unless n more requests fit in the free slots plus the queue. */
  private checkQueue(n: number): void {
    const free = this.slots.filter((s) => !s.req).length;
    const waiting = this.queue.length - free;
    if (waiting + n > this.maxQueue) {
      this.counters.rejectedQueueFull++;
      throw new BitnetError('QUEUE_FULL', `all ${this.parallel} slots are busy and ${Math.max(0, waiting)} requests are waiting (--max-queue ${this.maxQueue})`);
    }
  }

  private enqueue(prompt: readonly number[], opts: Request['opts'], state: GenerationState | undefined, group: Group | undefined, embedding: Embedding | undefined, keep?: number): Request {
    const req: Request = {
      id: this.nextId++, prompt: [...prompt], state, embedding, opts, phase: 'queued', slot: undefined, next: 0, reused: 0, start: now(), promptDone: 0,
      cancelled: false, out: new ChunkQueue(), unlisten: () => {}, group, scorer: state?.createPromptScorer(), keep,
    };
    group?.members.add(req);
    if (opts.signal) {
      const signal = opts.signal;
      const onAbort = (): void => this.cancel(req);
      signal.addEventListener('abort', onAbort, { once: true });
      req.unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    this.queue.push(req);
    this.counters.requestsStarted++;
    if (opts.signal?.aborted) this.cancel(req);
    return req;
  }

  private handle(req: Request): GenerationHandle {
    const chunks = req.out.drain();
    const cancel = (): void => this.cancel(req);
    return {
      id: req.id,
      promptTokens: req.prompt.length,
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
      kvCacheBytes: this.slots.reduce((a, s) => a + s.seq.kv.bytes(), 0),
      kvCacheCapacityBytes: this.slots.reduce((a, s) => a + s.seq.kv.capacityBytes(), 0),
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
   * A group member whose prompt is already evaluated copies it (preferring a free slot that holds it), one
   * whose prompt is being evaluated waits in its slot, and the first one evaluates it.
   */
  private admit(): void {
    while (this.queue.length > 0) {
      const free = this.slots.filter((s) => !s.req);
      if (free.length === 0) return;
      const req = this.queue.shift()!;
      const g = req.group;
      this.counters.promptTokens += req.prompt.length;
      this.active.add(req);
      req.start = now();
      const source = g?.logits ? this.holding(g) : undefined;
      if (g && source) {
        const slot = source.req ? this.pickSlot(req, free) : source;
        this.assign(slot, req);
        slot.seq.copyFrom(source.seq, g.prompt.length);
        slot.group = g;
        this.startMember(req, g);
      } else if (g?.leader) {
        this.assign(this.pickSlot(req, free), req);
        req.phase = 'wait';
        g.waiting.add(req);
      } else {
        if (g) g.leader = req;
        this.assign(this.pickSlot(req, free), req);
        this.beginPrompt(req);
      }
    }
  }

  private pickSlot(req: Request, free: Slot[]): Slot {
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
    return best;
  }

  private assign(slot: Slot, req: Request): void {
    slot.req = req;
    slot.group = undefined;
    req.slot = slot;
  }

  /** A slot (free ones first) whose cache holds the group's prompt, evaluated or copied for it. */
  private holding(g: Group): Slot | undefined {
    const holds = (s: Slot): boolean => s.group === g && s.seq.commonPrefix(g.prompt) === g.prompt.length;
    return this.slots.find((s) => !s.req && holds(s)) ?? this.slots.find(holds);
  }

  /** Starts evaluating a request's prompt in its slot (reusing the cached prefix unless its rows are needed). */
  private beginPrompt(req: Request): void {
    req.phase = 'prompt';
    req.reused = req.slot!.seq.beginPrefill(req.prompt, { reuse: !req.scorer && !req.embedding });
    req.next = req.reused;
    this.counters.cachedPromptTokens += req.reused;
  }

  /** A member whose slot holds the group's prompt (copied): its first token from the group's logits. */
  private startMember(req: Request, g: Group): void {
    req.phase = 'decode';
    req.reused = g.prompt.length;
    req.promptDone = now();
    this.counters.cachedPromptTokens += g.prompt.length;
    if (g.promptLogprobs) req.state!.setPromptLogprobs(g.promptLogprobs);
    const logits = g.logits!;
    g.members.delete(req);
    if (g.members.size === 0) g.logits = undefined;
    this.recordGenerated(this.draw(req, logits));
  }

  /** The leader evaluated the group's prompt: the waiting members copy its K/V and draw their first tokens. */
  private leaderDone(req: Request, g: Group, logits: Float32Array): void {
    g.leader = undefined;
    g.members.delete(req);
    req.slot!.group = g;
    if (req.scorer) g.promptLogprobs = req.scorer.entries;
    if (g.members.size === 0) return;
    g.logits = logits.slice();
    for (const w of [...g.waiting]) {
      g.waiting.delete(w);
      w.slot!.seq.copyFrom(req.slot!.seq, g.prompt.length);
      w.slot!.group = g;
      this.startMember(w, g);
    }
  }

  /** The leader left before evaluating the prompt: a waiting member takes over (its slot is its own). */
  private promote(g: Group): void {
    const w = g.waiting.values().next().value;
    if (!w) return;
    g.waiting.delete(w);
    g.leader = w;
    this.beginPrompt(w);
  }

  /** Draws a request's next token from `logits` and emits it; returns the chunks emitted (0 or 1). */
  private draw(req: Request, logits: Float32Array): number {
    const seq = req.slot!.seq;
    let chunk: GenerationChunk | undefined;
    try {
      chunk = req.state!.next(logits, req.keep !== undefined ? Infinity : seq.contextSize - seq.tokens.length);
    } catch (e) {
      this.finishRequest(req, e);
      return 0;
    }
    if (chunk) req.out.push(chunk);
    if (req.state!.done) this.finishRequest(req);
    return chunk ? 1 : 0;
  }

  private recordGenerated(n: number): void {
    this.counters.generatedTokens += n;
  }

  /** One forward step: a token for every decoding slot, plus prompt chunks up to the batch size. */
  private async step(): Promise<void> {
    const batch: Array<{ req: Request; item: BatchItem }> = [];
    let promptBudget = this.batchSize;
    for (const req of this.active) {
      const seq = req.slot!.seq;
      if (req.phase === 'decode') {
        if (req.keep !== undefined) seq.makeRoom(req.keep); // a full cache drops half of what follows the kept tokens
        batch.push({ req, item: { kv: seq.kv, tokens: [req.state!.token], logits: 'last' } });
      }
    }
    // prompt chunks in arrival order; each is the chunk a lone sequence would evaluate (same numerics)
    for (const req of this.active) {
      if (req.phase !== 'prompt') continue;
      const n = prefillChunk(req.next, req.prompt.length, this.batchSize);
      if (n > promptBudget && promptBudget < this.batchSize) break;
      promptBudget -= n;
      const last = req.next + n === req.prompt.length;
      // embeddings take the hidden states of every row, scored prompts the logits of every row
      const logits = req.embedding ? 'hidden' : req.scorer ? 'all' : last ? 'last' : 'none';
      batch.push({ req, item: { kv: req.slot!.seq.kv, tokens: req.prompt.slice(req.next, req.next + n), logits } });
      if (promptBudget <= 0) break;
    }
    if (batch.length === 0) {
      // only members waiting for a prompt nobody evaluates (cannot happen: a leader that leaves is replaced)
      for (const req of this.active) if (req.phase === 'wait' && !req.group!.leader) this.promote(req.group!);
      return;
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
    const nVocab = this.model.hp.nVocab;
    let generated = 0;
    batch.forEach(({ req, item }, i) => {
      if (req.phase === 'done') return; // failed while an earlier item was handled
      const seq = req.slot!.seq;
      for (let t = 0; t < item.tokens.length; t++) seq.tokens.push(item.tokens[t]!);
      let row = logits[i]!;
      if (req.phase === 'prompt') {
        const at = req.next;
        const n = item.tokens.length;
        req.next += n;
        req.opts.onPromptProgress?.({ done: req.next - req.reused, total: req.prompt.length - req.reused });
        if (req.embedding) req.embedding.pooler.add(row, at, n);
        else if (req.scorer) {
          req.scorer.add(row, nVocab, at, n);
          row = row.subarray((n - 1) * nVocab);
        }
        if (req.next < req.prompt.length) return;
        if (req.embedding) {
          this.finishRequest(req, req.cancelled ? new BitnetError('ABORTED', 'request cancelled') : undefined);
          return;
        }
        req.phase = 'decode';
        req.promptDone = t1;
        if (req.scorer) req.state!.setPromptLogprobs(req.scorer.entries);
        if (req.group) this.leaderDone(req, req.group, row);
      }
      if (req.cancelled) return; // leaves at the top of the next loop
      if (req.group) req.group.members.delete(req);
      generated += this.draw(req, row);
    });
    this.recordGenerated(generated);
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
    const g = req.group;
    if (g) {
      g.members.delete(req);
      g.waiting.delete(req);
      if (g.leader === req) {
        g.leader = undefined;
        this.promote(g);
      }
      if (g.members.size === 0) g.logits = undefined;
    }
    if (error === undefined) this.counters.requestsFinished++;
    else if (error instanceof BitnetError && error.code === 'ABORTED') this.counters.requestsCancelled++;
    else this.counters.requestsFailed++;
    if (req.embedding) {
      if (error === undefined) req.embedding.resolve(req.embedding.pooler.result(req.embedding.normalize));
      else req.embedding.reject(error);
      return;
    }
    if (error === undefined) {
      req.out.push(req.state!.finish({ reused: req.reused, start: req.start, promptDone: req.promptDone || now(), end: now() }));
      req.out.end();
    } else req.out.end(error);
  }
}
