// Training data: text files cut into documents at `<|endoftext|>` lines (TinyStories' separator; blank-line
// paragraphs when a file has none), a deterministic held-out split, a byte-level BPE vocabulary trained on
// the training documents only, and token streams (BOS + document + end of text) sampled in windows.
import { BitnetError } from '../errors.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { trainBpe } from '../tokenizer/train.js';
import type { BpeVocab } from '../tokenizer/vocab.js';
import { Rng } from '../util/rng.js';

/** The specials of a trained vocabulary: bos, eos (end of text), the chat turn end, and the story separator. */
export const TRAIN_SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>', '<|endoftext|>'];
export const STORY_SEPARATOR = '<|endoftext|>';

/** Documents of a text: split at separator lines, trimmed, empty ones dropped. */
export function splitDocuments(text: string): string[] {
  const bySeparator = text.split(/^[ \t]*<\|endoftext\|>[ \t]*$/m);
  const parts = bySeparator.length > 1 ? bySeparator : text.split(/\n[ \t]*\n/);
  return parts.map((d) => d.trim()).filter((d) => d.length > 0);
}

/**
 * Held-out split: every document whose index hashes below `fraction` (deterministic in the seed, spread
 * over the whole corpus rather than its tail). At least one document stays on each side when possible.
 */
export function splitHeldOut(docs: readonly string[], fraction: number, seed: number): { train: string[]; val: string[] } {
  if (!(fraction >= 0 && fraction < 1)) throw new BitnetError('INVALID_ARGUMENT', `must be in [0, 1), got ${fraction}`, { name: 'valFraction' });
  const train: string[] = [];
  const val: string[] = [];
  const rng = new Rng(seed ^ 0x5bd1e995);
  for (const d of docs) (rng.next() < fraction ? val : train).push(d);
  if (fraction > 0 && val.length === 0 && train.length > 1) val.push(train.pop()!);
  if (train.length === 0) throw new BitnetError('INVALID_ARGUMENT', 'no training documents left after the held-out split', { name: 'valFraction' });
  return { train, val };
}

export function trainVocabulary(docs: readonly string[], vocabSize: number): BpeVocab {
  const vocab = trainBpe(docs.join('\n\n'), { vocabSize, specials: TRAIN_SPECIALS });
  // the separator is an alias of end of text in the streams; the trained vocabulary keeps it as a control token
  return vocab;
}

/** BOS + tokens + EOS per document, concatenated. */
export function encodeDocuments(tok: Tokenizer, docs: readonly string[]): Int32Array {
  const out: number[] = [];
  const bos = tok.bos;
  const eos = tok.eos;
  if (bos === null || eos === null) throw new BitnetError('TOKENIZER', 'the vocabulary needs begin- and end-of-text tokens');
  for (const d of docs) {
    out.push(bos);
    for (const id of tok.encode(d, { addBos: false, parseSpecial: false })) out.push(id);
    out.push(eos);
  }
  return Int32Array.from(out);
}

/** A 32-bit seed for (seed, step): batches depend only on these, so a resumed run sees the same data. */
export function stepSeed(seed: number, step: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ step, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** B random windows of T+1 tokens from the stream [B * (T + 1)]. */
export function sampleBatch(stream: Int32Array, B: number, T: number, seed: number, step: number): Int32Array {
  if (stream.length < T + 1) throw new BitnetError('INVALID_ARGUMENT', `the training text has ${stream.length} tokens, fewer than one window of ${T + 1}`, { name: 'seqLen' });
  const rng = new Rng(stepSeed(seed, step));
  const out = new Int32Array(B * (T + 1));
  for (let b = 0; b < B; b++) {
    const start = Math.floor(rng.next() * (stream.length - T));
    out.set(stream.subarray(start, start + T + 1), b * (T + 1));
  }
  return out;
}

/** Consecutive non-overlapping windows of T+1 tokens covering up to `maxTokens` of the stream (evaluation). */
export function evalWindows(stream: Int32Array, T: number, maxTokens: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let start = 0; start + 1 < stream.length && start < maxTokens; start += T) {
    const end = Math.min(stream.length, start + T + 1);
    if (end - start < 2) break;
    out.push(stream.slice(start, end));
  }
  return out;
}

export { Tokenizer };
