// Log-likelihood scoring for `bitnet eval`: lm-eval's (context, continuation) requests made tokens as its
// Hugging Face model does (_encode_pair), then evaluated in shared forward passes. A document's common
// prefix (its context, or the few-shot text it shares with the previous document) is evaluated once and
// its K/V copied into one sequence per choice; passes pack the prefixes and choices of many documents up
// to the batch size. Every item has at least two rows, so each logit row has the bits `model.evaluate` gives.
import { BitnetError, throwIfAborted } from '../errors.js';
import type { BitnetModel } from '../engine/model.js';
import { logSumExp } from '../generate/logprobs.js';
import { argmax } from '../generate/sampler.js';
import type { Sequence } from '../generate/sequence.js';
import { kvBytesPerPosition } from '../model/kv-cache.js';
import { forwardBatch, type BatchItem } from '../model/forward.js';
import type { LoglikelihoodRequest, LoglikelihoodResult } from './task.js';

/** A request as tokens: the context (BOS first when the model adds one) followed by the continuation. */
export interface EncodedRequest {
  tokens: number[];
  /** tokens of the context; the continuation is tokens[contextLength..] */
  contextLength: number;
  /** leading tokens dropped to fit the context size (lm-eval truncates on the left too) */
  truncated: number;
}

/** Python's str.rstrip(): trailing Unicode whitespace. */
const TRAILING_SPACE = /[\s\u001c-\u001f\u0085]+$/u;

/**
 * lm-eval's encoding of a pair: trailing whitespace of the context moves to the continuation, the
 * continuation's tokens are those of context + continuation after the context's own tokens; an empty
 * context is the model's prefix token (BOS, else EOS). Left-truncated to the model's context size.
 */
export function encodeRequest(model: BitnetModel, req: LoglikelihoodRequest): EncodedRequest {
  const tok = model.tokenizer;
  const enc = (text: string, addBos: boolean): number[] => tok.encode(text, { addBos, addEos: false, parseSpecial: true });
  /** what an empty (or, without BOS, a blank) context starts from: lm-eval's prefix token */
  const prefixToken = (): number => {
    const prefix = tok.bos ?? tok.eos;
    if (prefix === null) throw new BitnetError('INVALID_ARGUMENT', 'an empty or blank context needs a BOS or EOS token to start from, and the vocabulary has neither', { name: 'context' });
    return prefix;
  };
  let ctx: number[];
  let cont: number[];
  if (req.context === '') {
    ctx = [prefixToken()];
    cont = enc(req.continuation, false);
  } else {
    let context = req.context;
    let continuation = req.continuation;
    const spaces = TRAILING_SPACE.exec(context)?.[0].length ?? 0;
    if (spaces > 0) {
      continuation = context.slice(context.length - spaces) + continuation;
      context = context.slice(0, context.length - spaces);
    }
    const addBos = tok.addBos;
    const whole = enc(context + continuation, addBos);
    const own = context === '' ? (addBos ? [tok.bos!] : []) : enc(context, addBos);
    cont = whole.slice(own.length);
    ctx = own.length > 0 ? own : [prefixToken()];
  }
  if (cont.length === 0) throw new BitnetError('INVALID_ARGUMENT', `the continuation ${JSON.stringify(req.continuation.slice(0, 60))} has no tokens of its own after the context`, { name: 'continuation' });
  let tokens = [...ctx, ...cont];
  let contextLength = ctx.length;
  let truncated = 0;
  const room = model.contextSize;
  if (tokens.length > room) {
    truncated = tokens.length - room;
    if (truncated >= contextLength) throw new BitnetError('CONTEXT_OVERFLOW', `a continuation of ${cont.length} tokens does not fit the context size ${room}`);
    tokens = tokens.slice(truncated);
    contextLength -= truncated;
  }
  return { tokens, contextLength, truncated };
}

export interface ScorerOptions {
  /** rows per forward pass (default: the model's batch size, at least 4) */
  batchSize?: number;
  /** logit rows per pass (each is a vocabulary-sized f32 row); default: 128 MB worth, 16..batchSize */
  logitRows?: number;
  /** share prefixes (within a document and with earlier documents); false: every request from scratch */
  reuse?: boolean;
  /** documents evaluated together (default 64) */
  maxInFlight?: number;
  /** bytes of KV cache the documents in flight may hold together (default 512 MiB) */
  kvBytes?: number;
  signal?: AbortSignal;
  /** after each pass: documents finished, rows evaluated so far */
  onProgress?: (p: { docs: number; rows: number }) => void;
}

/** Part of the work: tokens[next..end) to evaluate on `seq`; rows from `first` to `last` need log-probs. */
interface Stream {
  seq: Sequence;
  tokens: number[];
  next: number;
  end: number;
  /** positions whose logits score the next token: contextLength - 1 .. tokens.length - 2 (jobs only) */
  first: number;
  last: number;
  ll: number;
  greedy: boolean;
  doc: DocState;
  /** the index of the request in its document; -1 for the shared prefix */
  index: number;
}

interface DocState {
  id: number;
  reqs: EncodedRequest[];
  prefixLen: number;
  jobs: Stream[];
  pending: number;
  results: LoglikelihoodResult[];
}

/** Length of the common prefix of token arrays. */
function commonPrefix(a: readonly number[], b: readonly number[], max = Infinity): number {
  let n = 0;
  const lim = Math.min(a.length, b.length, max);
  while (n < lim && a[n] === b[n]) n++;
  return n;
}

/**
 * Scores documents' requests on one model. One scorer keeps a few finished prefixes to share with the
 * next documents; `dispose()` frees its sequences.
 */
export class LoglikelihoodScorer {
  /** recently finished prefixes, newest last, for the next documents to share */
  private readonly idle: Array<{ seq: Sequence; tokens: number[] }> = [];
  private readonly batchSize: number;
  private readonly logitRows: number;
  private readonly reuse: boolean;
  private readonly maxInFlight: number;
  /** KV positions the live sequences may hold together (a backend allocates a sequence's whole context) */
  private readonly kvBudget: number;
  private livePositions = 0;
  rowsEvaluated = 0;
  /** seconds spent inside forward passes (the rest is planning, copies and log-softmax) */
  forwardSeconds = 0;

  constructor(
    readonly model: BitnetModel,
    readonly opts: ScorerOptions = {},
  ) {
    this.batchSize = Math.max(4, opts.batchSize ?? 512);
    const hp = model.hparams;
    this.logitRows = Math.max(4, Math.min(this.batchSize, opts.logitRows ?? Math.max(16, Math.floor((128 << 20) / 4 / hp.nVocab))));
    this.reuse = opts.reuse ?? true;
    this.maxInFlight = Math.max(1, opts.maxInFlight ?? 64);
    const bytesPerPosition = kvBytesPerPosition(model.kvTypes, hp.nLayer, hp.nHeadKv, hp.headDim);
    this.kvBudget = Math.max(1024, Math.floor((opts.kvBytes ?? 512 * 2 ** 20) / bytesPerPosition));
  }

  dispose(): void {
    for (const s of this.idle) this.give(s.seq);
    this.idle.length = 0;
  }

  /** A sequence with room for `n` positions (its KV is allocated for exactly that many). */
  private take(n: number): Sequence {
    this.livePositions += n;
    return this.model.createSequence({ contextSize: n });
  }

  private give(seq: Sequence): void {
    this.livePositions -= seq.contextSize;
    seq.dispose();
  }

  /** KV positions a document's sequences take: its prefix once, and every request whole. */
  private need(doc: DocState): number {
    return doc.reqs.reduce((a, r) => a + r.tokens.length, 0) + doc.reqs[0]!.tokens.length;
  }

  /** Scores every document's requests; results in the same order. */
  async score(docs: readonly EncodedRequest[][]): Promise<LoglikelihoodResult[][]> {
    const states: DocState[] = docs.map((reqs, id) => ({ id, reqs, prefixLen: 0, jobs: [], pending: reqs.length, results: new Array(reqs.length) }));
    const active: Stream[] = [];
    let admitted = 0;
    let finished = 0;
    let inFlight = 0;
    while (finished < states.length) {
      throwIfAborted(this.opts.signal);
      // admit documents: their shared prefix first (or their requests at once when nothing is shared)
      while (admitted < states.length && inFlight < this.maxInFlight && this.rowsQueued(active) < this.batchSize) {
        const doc = states[admitted]!;
        if (doc.reqs.length === 0) {
          admitted++;
          finished++;
          continue;
        }
        // within the KV budget (a document alone may exceed it: it runs by itself)
        if (inFlight > 0 && this.livePositions + this.need(doc) > this.kvBudget) break;
        admitted++;
        inFlight++;
        this.admit(doc, active);
      }
      // one pass: chunks of the active streams, in order, up to the row and logit-row budgets
      const batch: Array<{ s: Stream; n: number; item: BatchItem }> = [];
      let rows = 0;
      let logitRows = 0;
      for (const s of active) {
        const left = this.batchSize - rows;
        const remaining = s.end - s.next;
        // a request's rows need logits from its first scored position on (a prefix's never do)
        const scores = (n: number): boolean => s.index >= 0 && s.next + n - 1 >= s.first && s.next <= s.last;
        let n = Math.min(remaining, left);
        if (scores(n)) n = Math.min(n, this.logitRows - logitRows);
        if (remaining - n === 1) n--; // never leave a single row for later
        if (n < 2) continue;
        const logits = scores(n) ? 'all' : 'none';
        batch.push({ s, n, item: { kv: s.seq.kv, tokens: s.tokens.slice(s.next, s.next + n), logits } });
        rows += n;
        if (logits === 'all') logitRows += n;
        if (rows >= this.batchSize) break;
      }
      if (batch.length === 0) throw new Error('eval scorer: no work fits a pass (a bug)');
      const t0 = performance.now();
      const out = await forwardBatch(active[0]!.seq.model, batch.map((b) => b.item));
      this.forwardSeconds += (performance.now() - t0) / 1000;
      this.rowsEvaluated += rows;
      const nVocab = this.model.hparams.nVocab;
      for (let i = 0; i < batch.length; i++) {
        const { s, n, item } = batch[i]!;
        if (item.logits === 'all') {
          const rowsOut = out[i]!;
          for (let r = 0; r < n; r++) {
            const p = s.next + r;
            if (p < s.first || p > s.last) continue;
            const row = rowsOut.subarray(r * nVocab, (r + 1) * nVocab);
            const target = s.tokens[p + 1]!;
            s.ll += row[target]! - logSumExp(row);
            if (s.greedy && argmax(row) !== target) s.greedy = false;
          }
        }
        for (let r = 0; r < n; r++) s.seq.tokens.push(s.tokens[s.next + r]!);
        s.next += n;
      }
      // finished streams: a prefix hands its K/V to its requests, a request its result
      for (let i = active.length - 1; i >= 0; i--) {
        const s = active[i]!;
        if (s.next < s.end) continue;
        active.splice(i, 1);
        if (s.index < 0) {
          this.startJobs(s.doc, s.seq, active, i);
          this.keepIdle(s.seq, s.tokens);
        } else {
          s.doc.results[s.index] = { ll: s.ll, isGreedy: s.greedy };
          this.give(s.seq);
          if (--s.doc.pending === 0) {
            finished++;
            inFlight--;
          }
        }
      }
      this.opts.onProgress?.({ docs: finished, rows: this.rowsEvaluated });
    }
    return states.map((d) => d.results);
  }

  private rowsQueued(active: readonly Stream[]): number {
    let n = 0;
    for (const s of active) n += s.end - s.next;
    return n;
  }

  /** Plans a document: how much of its requests' tokens are shared, and from where that prefix comes. */
  private admit(doc: DocState, active: Stream[]): void {
    let prefix = 0;
    if (this.reuse) {
      prefix = doc.reqs[0]!.tokens.length;
      for (const r of doc.reqs) prefix = Math.min(prefix, commonPrefix(doc.reqs[0]!.tokens, r.tokens), r.contextLength - 1);
      if (prefix < 2) prefix = 0; // a one-row prefix would take the single-row path
    }
    doc.prefixLen = prefix;
    if (prefix === 0) {
      this.startJobs(doc, undefined, active, active.length);
      return;
    }
    const want = doc.reqs[0]!.tokens.slice(0, prefix);
    // the idle prefix sharing the most with this one (few-shot text, a description), else a fresh sequence
    let best = -1;
    let bestLen = 0;
    this.idle.forEach((e, i) => {
      const n = commonPrefix(e.tokens, want);
      if (n > bestLen) {
        best = i;
        bestLen = n;
      }
    });
    const seq = this.take(prefix);
    let start = 0;
    if (best >= 0 && bestLen >= 2) {
      start = Math.min(bestLen, prefix);
      if (prefix - start === 1) start--; // the rest must be two rows or none
      if (start < 2) start = 0;
      if (start > 0) seq.copyFrom(this.idle[best]!.seq, start);
    }
    if (start === prefix) {
      this.startJobs(doc, seq, active, active.length);
      this.keepIdle(seq, want);
      return;
    }
    active.push({ seq, tokens: want, next: start, end: prefix, first: 0, last: -1, ll: 0, greedy: true, doc, index: -1 });
  }

  /** The document's requests as streams after its prefix (copied from `base` when there is one). */
  private startJobs(doc: DocState, base: Sequence | undefined, active: Stream[], at: number): void {
    const jobs = doc.reqs.map((r, index): Stream => {
      const seq = this.take(r.tokens.length);
      if (base && doc.prefixLen > 0) seq.copyFrom(base, doc.prefixLen);
      // the last token predicts nothing scored: left out unless the item would then have a single row
      const end = r.tokens.length - 1 - doc.prefixLen >= 2 ? r.tokens.length - 1 : r.tokens.length;
      return { seq, tokens: r.tokens, next: doc.prefixLen, end, first: r.contextLength - 1, last: r.tokens.length - 2, ll: 0, greedy: true, doc, index };
    });
    doc.jobs = jobs;
    active.splice(at, 0, ...jobs);
  }

  /** Keeps a finished prefix for later documents (a few, the newest), freeing older ones. */
  private keepIdle(seq: Sequence, tokens: number[]): void {
    if (!this.reuse) return this.give(seq);
    this.idle.push({ seq, tokens });
    while (this.idle.length > 4) this.give(this.idle.shift()!.seq);
  }
}
