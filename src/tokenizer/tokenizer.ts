// Tokenizer: byte-level BPE encode/decode over a BpeVocab (spec 5), with special-token splitting,
// a piece cache, and a streaming UTF-8-safe detokenizer. Between the vocab loaders and generate/engine.

import { BitnetError } from '../errors.js';
import { BYTE_TO_CHAR, bytesToTokenString, textToTokenString, tokenStringToBytes, utf8Encode } from './byte-unicode.js';
import { Heap } from './heap.js';
import { pretokenizeEach } from './pretokenize.js';
import { TokenType, type BpeVocab } from './vocab.js';

export interface EncodeOptions {
  /** prepend BOS; defaults to the vocabulary's addBos */
  addBos?: boolean;
  /** append EOS; defaults to the vocabulary's addEos (GGUF add_eos_token, false for BitNet models) */
  addEos?: boolean;
  /**
   * split out the literal text of CONTROL tokens (e.g. `<|eot_id|>`) and emit their ids; default false, which
   * tokenizes such text as plain text. USER_DEFINED tokens are split out either way, as in HF and llama.cpp.
   */
  parseSpecial?: boolean;
  /**
   * stop once the output is longer than this many tokens (it then has maxTokens + 1 ids): a caller that
   * refuses prompts longer than its context pays for context + 1 tokens, not for the whole text
   */
  maxTokens?: number;
}

/**
 * Part of a text to encode: `special` false is text even where it spells a CONTROL token (chat message
 * content); true parses CONTROL token texts (a chat template's own markup). Tokenizing segments joins them:
 * BPE runs across segment boundaries as over one text, and only special tokens split it.
 */
export interface TextSegment {
  text: string;
  special: boolean;
}

export interface DecodeOptions {
  /** drop CONTROL tokens (HF `skip_special_tokens`); USER_DEFINED tokens are kept, as in HF and llama.cpp */
  skipSpecial?: boolean;
}

export interface StreamDecoder {
  /** Adds a token; returns the text completed so far (never half a character). */
  push(id: number): string;
  /** Returns what is left; bytes of an unfinished character come out as U+FFFD. */
  flush(): string;
}

/** Pieces longer than this are not cached; the cache keeps 2 generations of CACHE_SIZE pieces. */
const CACHE_MAX_PIECE = 256;
const CACHE_SIZE = 1 << 16;
/** Pieces between the pauses of an incremental tokenization. */
const STEP_PIECES = 256;
const STOP_TEXTS = ['<|end_of_text|>', '<|eot_id|>', '<|endoftext|>'];

export class Tokenizer {
  readonly vocab: BpeVocab;
  readonly vocabSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly eot: number | null;
  readonly pad: number | null;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** eos and eot, then any other CONTROL token named like an end-of-text token */
  readonly stopTokens: number[];

  /** byte-level string -> id, for the tokens BPE may produce (all but UNKNOWN/CONTROL/USER_DEFINED/UNUSED) */
  private readonly bpeIds = new Map<string, number>();
  /** literal text -> id for the other tokens */
  private readonly specialIds = new Map<string, number>();
  /** byte value -> id of its single-byte token, -1 if the vocabulary lacks it */
  private readonly byteIds = new Int32Array(256);
  /** merges-list mode: "A B" -> rank (first occurrence wins). Null in tiktoken mode: rank = merged token id. */
  private readonly mergeRanks: Map<string, number> | null = null;
  private readonly bytesCache: Array<Uint8Array | undefined>;
  private readonly splitters = new Map<boolean, RegExp | null>();
  private cache = new Map<string, readonly number[]>();
  private oldCache = new Map<string, readonly number[]>();

  constructor(vocab: BpeVocab) {
    const { tokens, tokenTypes } = vocab;
    if (tokens.length !== tokenTypes.length) {
      throw new BitnetError('TOKENIZER', `${tokens.length} tokens but ${tokenTypes.length} token types`, { name: 'tokenTypes' });
    }
    this.vocab = vocab;
    this.vocabSize = tokens.length;
    this.bytesCache = new Array<Uint8Array | undefined>(tokens.length);
    for (const key of ['bos', 'eos', 'eot', 'pad'] as const) {
      const id = vocab[key];
      if (id !== null && !this.inRange(id)) throw new BitnetError('TOKENIZER', `token id ${id} out of range [0, ${this.vocabSize})`, { name: key });
    }
    this.bos = vocab.bos;
    this.eos = vocab.eos;
    this.eot = vocab.eot;
    this.pad = vocab.pad;
    this.addBos = vocab.addBos && vocab.bos !== null;
    this.addEos = (vocab.addEos ?? false) && vocab.eos !== null;

    for (let id = 0; id < tokens.length; id++) {
      const text = tokens[id]!;
      const map = isBpeType(tokenTypes[id]!) ? this.bpeIds : this.specialIds;
      if (text !== '' && !map.has(text)) map.set(text, id);
    }
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.bpeIds.get(BYTE_TO_CHAR[b]!) ?? -1;

    if (vocab.merges !== null) {
      this.mergeRanks = new Map();
      for (let rank = vocab.merges.length - 1; rank >= 0; rank--) this.mergeRanks.set(vocab.merges[rank]!, rank);
    }

    const stops = [this.eos, this.eot, ...STOP_TEXTS.map((t) => this.specialIds.get(t))].filter(
      (id): id is number => id !== null && id !== undefined && (id === this.eos || id === this.eot || tokenTypes[id] === TokenType.CONTROL),
    );
    this.stopTokens = [...new Set(stops)];
  }

  // -------------------------------------------------------------------------------------------
  // encoding

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.encodeSegments([{ text, special: opts.parseSpecial ?? false }], opts);
  }

  /** Tokenizes text segments, each with its own special-token parsing (TextSegment); parseSpecial is ignored. */
  encodeSegments(segments: readonly TextSegment[], opts: EncodeOptions = {}): number[] {
    const run = this.encodeSteps(segments, opts);
    for (;;) {
      const r = run.next();
      if (r.done) return r.value;
    }
  }

  /**
   * encodeSegments() in slices of about `sliceMs` (default 5) of work, giving the event loop a turn between
   * them: a server tokenizing a long prompt keeps answering others meanwhile.
   */
  async encodeSegmentsAsync(segments: readonly TextSegment[], opts: EncodeOptions & { sliceMs?: number; signal?: AbortSignal } = {}): Promise<number[]> {
    const sliceMs = opts.sliceMs ?? 5;
    const run = this.encodeSteps(segments, opts);
    let t0 = performance.now();
    for (;;) {
      const r = run.next();
      if (r.done) return r.value;
      if (performance.now() - t0 < sliceMs) continue;
      // a macrotask: I/O and timers run (browsers have no setImmediate)
      await new Promise<void>((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
      opts.signal?.throwIfAborted();
      t0 = performance.now();
    }
  }

  /** The encoder, pausing (yielding) every STEP_PIECES pieces; returns the ids. */
  private *encodeSteps(segments: readonly TextSegment[], opts: EncodeOptions): Generator<void, number[], undefined> {
    const out: number[] = [];
    const max = opts.maxTokens ?? Infinity;
    if (opts.addBos ?? this.addBos) {
      if (this.bos === null) throw new BitnetError('TOKENIZER', 'addBos requested but the vocabulary has no BOS token', { name: 'bos' });
      out.push(this.bos);
    }
    // text between special tokens, which may span segments: BPE runs over it as one text
    let pending = '';
    let steps = 0;
    const flush = function* (this: Tokenizer): Generator<void, void, undefined> {
      if (pending === '') return;
      const text = pending;
      pending = '';
      for (const piece of pretokenizeEach(text, this.vocab.preTokenizer)) {
        const ids = this.pieceIds(piece);
        for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
        if (out.length > max) return;
        if (++steps % STEP_PIECES === 0) yield;
      }
    };
    for (const seg of segments) {
      // USER_DEFINED tokens are always split out (HF added tokens with special=false, llama.cpp); CONTROL ones on request.
      const re = this.splitter(seg.special);
      const text = seg.text;
      let last = 0;
      if (re !== null) {
        for (;;) {
          re.lastIndex = last; // shared regex: an async tokenization may have moved it
          const m = re.exec(text);
          if (m === null) break;
          pending += text.slice(last, m.index);
          yield* flush.call(this);
          if (out.length > max) return out.slice(0, max + 1);
          out.push(this.specialIds.get(m[0])!);
          last = m.index + m[0].length;
        }
      }
      pending += last === 0 ? text : text.slice(last);
    }
    yield* flush.call(this);
    if (out.length > max) return out.slice(0, max + 1);
    if (opts.addEos ?? this.addEos) {
      if (this.eos === null) throw new BitnetError('TOKENIZER', 'addEos requested but the vocabulary has no EOS token', { name: 'eos' });
      out.push(this.eos);
    }
    return out;
  }

  /**
   * The literal texts of CONTROL tokens (those parseSpecial turns into ids), longest first: a chat renderer
   * keeps them out of message content.
   */
  get controlTexts(): readonly string[] {
    return (this.controlTextList ??= [...this.specialIds].filter(([, id]) => this.vocab.tokenTypes[id] === TokenType.CONTROL).map(([t]) => t).sort((x, y) => y.length - x.length || (x < y ? -1 : x > y ? 1 : 0)));
  }
  private controlTextList: string[] | undefined;

  /** The most UTF-8 bytes one token stands for (text of any length above n * this makes more than n tokens). */
  get maxTokenBytes(): number {
    if (this.maxTokenBytesValue === undefined) {
      let max = 1;
      for (let id = 0; id < this.vocabSize; id++) max = Math.max(max, this.bytesOf(id).length);
      this.maxTokenBytesValue = max;
    }
    return this.maxTokenBytesValue;
  }
  private maxTokenBytesValue: number | undefined;

  /** Leftmost-longest matcher for the literal text of USER_DEFINED (and with parseSpecial, CONTROL) tokens. */
  private splitter(parseSpecial: boolean): RegExp | null {
    let re = this.splitters.get(parseSpecial);
    if (re === undefined) {
      const texts: string[] = [];
      for (const [text, id] of this.specialIds) {
        const type = this.vocab.tokenTypes[id];
        if (type === TokenType.USER_DEFINED || (parseSpecial && type === TokenType.CONTROL)) texts.push(text);
      }
      // JS alternation takes the first alternative that matches: longest first gives leftmost-longest
      texts.sort((x, y) => y.length - x.length || (x < y ? -1 : x > y ? 1 : 0));
      re = texts.length === 0 ? null : new RegExp(texts.map((t) => t.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')).join('|'), 'gu');
      this.splitters.set(parseSpecial, re);
    }
    return re;
  }

  private pieceIds(piece: string): readonly number[] {
    const hit = this.cache.get(piece);
    if (hit !== undefined) return hit;
    const ids = this.oldCache.get(piece) ?? this.encodePiece(piece);
    if (piece.length <= CACHE_MAX_PIECE) {
      if (this.cache.size >= CACHE_SIZE) {
        this.oldCache = this.cache;
        this.cache = new Map();
      }
      // a V8 substring (13+ chars) keeps its whole parent text alive: key the cache with a copy (only on a miss)
      this.cache.set(piece.length < 13 ? piece : piece.split('').join(''), ids);
    }
    return ids;
  }

  /** One pre-tokenizer piece: the whole piece if it is a token (ignore_merges), else BPE. */
  private encodePiece(piece: string): number[] {
    const bytes = utf8Encode(piece);
    const whole = this.bpeIds.get(bytesToTokenString(bytes));
    return whole !== undefined ? [whole] : this.bpe(bytes);
  }

  // Merges are looked up by text, not resolved to ids at load (that costs ~0.3 s for 280k merges); only
  // pieces that miss the cache and are not whole tokens get here.
  /** Merge rank of the adjacent pair (a, b), or -1. */
  private rankOf(a: number, b: number): number {
    const { tokens } = this.vocab;
    if (this.mergeRanks === null) return this.bpeIds.get(tokens[a]! + tokens[b]!) ?? -1;
    return this.mergeRanks.get(`${tokens[a]!} ${tokens[b]!}`) ?? -1;
  }

  /** Id of the token that merging (a, b), of rank r, produces. */
  private mergedId(a: number, b: number, r: number): number {
    if (this.mergeRanks === null) return r;
    const merged = this.bpeIds.get(this.vocab.tokens[a]! + this.vocab.tokens[b]!);
    if (merged === undefined) {
      throw new BitnetError('TOKENIZER', `merge ${r} ${JSON.stringify(this.vocab.merges![r])} makes a token that is not in the vocabulary`, { name: 'merges' });
    }
    return merged;
  }

  /**
   * Byte-level BPE: repeatedly merge the adjacent pair of lowest rank (leftmost on ties), as HF tokenizers,
   * tiktoken and llama.cpp do. Parts form a linked list; a heap holds rank * n + position, and entries made
   * stale by earlier merges are recognised on pop by re-checking the pair's rank. O(n log n) in the bytes.
   */
  private bpe(bytes: Uint8Array): number[] {
    const n = bytes.length;
    if (n === 0) return [];
    const id = new Int32Array(n); // token id of the part starting at byte i; -1 once merged into its left
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const t = this.byteIds[bytes[i]!]!;
      if (t < 0) throw new BitnetError('TOKENIZER', `the vocabulary has no token for byte 0x${bytes[i]!.toString(16).padStart(2, '0')}`);
      id[i] = t;
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new Heap<number>((x, y) => x < y);
    const pushPair = (i: number): void => {
      const j = next[i]!;
      if (j < 0) return;
      const r = this.rankOf(id[i]!, id[j]!);
      if (r >= 0) heap.push(r * n + i);
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i);
    while (heap.size > 0) {
      const key = heap.pop()!;
      const r = Math.floor(key / n);
      const i = key - r * n;
      const j = next[i]!;
      // stale: part i was merged away, or its pair changed (same rank means same merged token over the same bytes)
      if (id[i]! < 0 || j < 0 || this.rankOf(id[i]!, id[j]!) !== r) continue;
      id[i] = this.mergedId(id[i]!, id[j]!, r);
      id[j] = -1;
      const k = next[j]!;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i]! >= 0) pushPair(prev[i]!);
      pushPair(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(id[i]!);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // decoding

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    return utf8Decoder.decode(this.decodeBytes(ids, opts));
  }

  decodeBytes(ids: ArrayLike<number>, opts: DecodeOptions = {}): Uint8Array {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let k = 0; k < ids.length; k++) {
      const b = this.pieceBytes(ids[k]!, opts.skipSpecial ?? false);
      parts.push(b);
      size += b.length;
    }
    const out = new Uint8Array(size);
    let o = 0;
    for (const b of parts) {
      out.set(b, o);
      o += b.length;
    }
    return out;
  }

  createStreamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    // TextDecoder in stream mode holds an incomplete UTF-8 sequence until its last byte arrives
    const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    const skip = opts.skipSpecial ?? false;
    return {
      push: (id) => decoder.decode(this.pieceBytes(id, skip), { stream: true }),
      flush: () => decoder.decode(),
    };
  }

  /** The bytes a token stands for (a copy). */
  tokenBytes(id: number): Uint8Array {
    return this.bytesOf(id).slice();
  }

  /** The token's vocabulary text: byte-level form for normal tokens, literal text for special ones. */
  tokenText(id: number): string {
    this.check(id);
    return this.vocab.tokens[id]!;
  }

  /** CONTROL or USER_DEFINED. */
  isSpecial(id: number): boolean {
    this.check(id);
    const type = this.vocab.tokenTypes[id];
    return type === TokenType.CONTROL || type === TokenType.USER_DEFINED;
  }

  /** Exact lookup: special text (`<|eot_id|>`), byte-level form (`Ġworld`) or plain text of one token (` world`). */
  tokenId(text: string): number | undefined {
    return this.specialIds.get(text) ?? this.bpeIds.get(text) ?? this.bpeIds.get(textToTokenString(text));
  }

  private pieceBytes(id: number, skipSpecial: boolean): Uint8Array {
    const bytes = this.bytesOf(id);
    return skipSpecial && this.vocab.tokenTypes[id] === TokenType.CONTROL ? EMPTY : bytes;
  }

  private bytesOf(id: number): Uint8Array {
    this.check(id);
    let bytes = this.bytesCache[id];
    if (bytes === undefined) {
      const text = this.vocab.tokens[id]!;
      bytes = (isBpeType(this.vocab.tokenTypes[id]!) ? tokenStringToBytes(text) : null) ?? utf8Encode(text);
      this.bytesCache[id] = bytes;
    }
    return bytes;
  }

  private inRange(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize;
  }

  private check(id: number): void {
    if (!this.inRange(id)) {
      throw new BitnetError('TOKENIZER', `token id ${id} out of range [0, ${this.vocabSize})`, { name: `token ${id}` });
    }
  }
}

const EMPTY = new Uint8Array(0);
/** Non-fatal (invalid bytes -> U+FFFD) and keeping a leading U+FEFF, which TextDecoder strips by default. */
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function isBpeType(type: number): boolean {
  return type !== TokenType.UNKNOWN && type !== TokenType.CONTROL && type !== TokenType.USER_DEFINED && type !== TokenType.UNUSED;
}
