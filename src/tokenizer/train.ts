// Deterministic byte-level BPE trainer: learns merges greedily on Llama-3 pre-tokenized pieces and returns a
// BpeVocab (256 byte tokens, merged tokens, then special tokens). Builds tiny fixture vocabularies and, later,
// real ones: pair counts are kept per unique piece and updated incrementally, with a lazy max-heap.

import { BitnetError } from '../errors.js';
import { BYTE_TO_CHAR, utf8Encode } from './byte-unicode.js';
import { Heap } from './heap.js';
import { pretokenize } from './pretokenize.js';
import { TokenType, type BpeVocab } from './vocab.js';

export interface TrainOptions {
  /** total vocabulary size: 256 bytes + merged tokens + specials */
  vocabSize: number;
  /** special tokens, appended as CONTROL; `<|begin_of_text|>`, `<|end_of_text|>`, `<|eot_id|>` become bos/eos/eot */
  specials: string[];
}

/** Pair keys pack two ids below 2^21 into one exact double. */
const KEY = 2 ** 21;

interface PairEntry {
  count: number;
  a: number;
  b: number;
}

/**
 * Trains a byte-level BPE vocabulary on `text`. Special-token text in `text` is cut out before counting.
 * Each step merges the most frequent adjacent pair (ties: lowest left id, then lowest right id). Stops early,
 * with a smaller vocabulary, if every piece has become a single token.
 */
export function trainBpe(text: string, opts: TrainOptions): BpeVocab {
  const { vocabSize, specials } = opts;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + specials.length || vocabSize >= KEY) {
    throw new BitnetError('TOKENIZER', `vocabSize ${vocabSize} must be an integer in [256 + ${specials.length} specials, ${KEY})`, { name: 'vocabSize' });
  }
  if (new Set(specials).size !== specials.length || specials.includes('')) {
    throw new BitnetError('TOKENIZER', 'special tokens must be distinct and non-empty', { name: 'specials' });
  }

  // unique pieces with their counts
  const pieceCount = new Map<string, number>();
  for (const segment of splitOut(text, specials)) {
    for (const piece of pretokenize(segment)) pieceCount.set(piece, (pieceCount.get(piece) ?? 0) + 1);
  }
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [piece, count] of pieceCount) {
    words.push(Array.from(utf8Encode(piece)));
    freq.push(count);
  }

  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>(); // pair -> words that contain (or once contained) it
  const addPairs = (w: number, sign: number, delta: Map<number, number> | null): void => {
    const sym = words[w]!;
    const f = freq[w]! * sign;
    for (let i = 0; i + 1 < sym.length; i++) {
      const k = sym[i]! * KEY + sym[i + 1]!;
      const c = (pairCount.get(k) ?? 0) + f;
      if (c === 0) pairCount.delete(k);
      else pairCount.set(k, c);
      if (delta !== null) delta.set(k, (delta.get(k) ?? 0) + f);
      if (sign > 0) {
        let set = where.get(k);
        if (set === undefined) where.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  for (let w = 0; w < words.length; w++) addPairs(w, 1, null);

  const heap = new Heap<PairEntry>((x, y) => x.count > y.count || (x.count === y.count && (x.a < y.a || (x.a === y.a && x.b < y.b))));
  for (const [k, count] of pairCount) heap.push({ count, a: Math.floor(k / KEY), b: k % KEY });

  const tokens: string[] = [...BYTE_TO_CHAR];
  const tokenIds = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const merges: string[] = [];
  const target = vocabSize - specials.length;
  while (tokens.length < target && heap.size > 0) {
    const top = heap.pop()!;
    const k = top.a * KEY + top.b;
    const count = pairCount.get(k) ?? 0;
    if (count !== top.count) {
      // stale entry: the pair's count dropped since it was pushed
      if (count > 0) heap.push({ count, a: top.a, b: top.b });
      continue;
    }
    const merged = tokens[top.a]! + tokens[top.b]!;
    let t = tokenIds.get(merged);
    if (t === undefined) {
      t = tokens.push(merged) - 1;
      tokenIds.set(merged, t);
    }
    merges.push(`${tokens[top.a]!} ${tokens[top.b]!}`);

    const delta = new Map<number, number>();
    for (const w of where.get(k) ?? []) {
      if (!mergeWord(words[w]!, top.a, top.b, t, true)) continue;
      addPairs(w, -1, delta);
      mergeWord(words[w]!, top.a, top.b, t, false);
      addPairs(w, 1, delta);
    }
    where.delete(k);
    for (const [dk, d] of delta) {
      const c = pairCount.get(dk);
      if (d > 0 && c !== undefined) heap.push({ count: c, a: Math.floor(dk / KEY), b: dk % KEY });
    }
  }

  const nBase = tokens.length;
  const id = (name: string): number | null => {
    const i = specials.indexOf(name);
    return i < 0 ? null : nBase + i;
  };
  const tokenTypes = new Int32Array(nBase + specials.length).fill(TokenType.NORMAL);
  tokenTypes.fill(TokenType.CONTROL, nBase);
  const bos = id('<|begin_of_text|>');
  return {
    tokens: [...tokens, ...specials],
    tokenTypes,
    merges,
    bos,
    eos: id('<|end_of_text|>'),
    eot: id('<|eot_id|>'),
    pad: null,
    addBos: bos !== null,
    preTokenizer: 'llama3',
  };
}

/** Replaces non-overlapping (a, b) left to right with t in place; with `dryRun`, only reports whether (a, b) occurs. */
function mergeWord(sym: number[], a: number, b: number, t: number, dryRun: boolean): boolean {
  let found = false;
  let o = 0;
  for (let i = 0; i < sym.length; i++) {
    if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
      if (dryRun) return true;
      found = true;
      sym[o++] = t;
      i++;
    } else sym[o++] = sym[i]!;
  }
  sym.length = o;
  return found;
}

/** The text between occurrences of the special strings. */
function splitOut(text: string, specials: readonly string[]): string[] {
  if (specials.length === 0) return [text];
  const alternatives = [...specials].sort((x, y) => y.length - x.length).map((s) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'));
  return text.split(new RegExp(alternatives.join('|'), 'u')).filter((s) => s !== '');
}
