#!/usr/bin/env node
// Writes the documents of the bundled offline eval task `tinystories_next_sentence`
// (src/eval/tasks/tinystories.ts) to models/tinystories-next-sentence.jsonl: one JSON object a line,
//   { "context": the first k sentences of a held-out story (k = 2..5),
//     "choices": four candidate next sentences, the story's true one and three distractors,
//     "label":   index of the true one in choices,
//     "story":   the story's index (0-based) in the source file, "sentence": k, "source": the file name }
// The distractors are sentences of OTHER held-out stories at a similar position (k-1..k+1) and of similar
// length, so length and position alone give nothing away. Deterministic: a fixed seed drives a small PRNG
// (mulberry32, below), so every run on the same source writes the same bytes.
//
// Source: ../shared/data/tinystories/tinystories_v1_valid_head.txt, the head of Hugging Face
// roneneldan/TinyStories `TinyStories-valid.txt` (TinyStories: Eldan & Li, 2023, arXiv:2305.07759; written
// by GPT-3.5 and GPT-4), licensed CDLA-Sharing-1.0; see ../shared/data/tinystories/SOURCES.md. It is the
// bundled model's held-out split (never trained on). The output is derived from that data, so it is not
// committed (it is gitignored); `npm run build` writes it into models/ (shipped in the package) when the
// source is present.
//
// Usage: node scripts/make-tinystories-task.mjs [--source DIR] [--out PATH] [--count N] [--seed S]
//        [--if-stale] (exit quietly when the source is missing or the output is newer than source and script)
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SOURCE_FILE = 'tinystories_v1_valid_head.txt';
export const DEFAULT_SEED = 20230512; // TinyStories' arXiv date; any fixed number would do
export const DEFAULT_COUNT = 500;
const K_MIN = 2;
const K_MAX = 5;
/** characters: the bundled model's 2048-token BPE is ~4 characters a token, its context 256 tokens */
const MAX_CONTEXT_CHARS = 560;
const MAX_CHOICE_CHARS = 200;
const CHOICES = 4;

/** mulberry32: a 32-bit PRNG, uniform floats in [0, 1) */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Stories of a TinyStories file: blocks ended by a line `<|endoftext|>`. */
export function splitStories(text) {
  return text
    .split(/^<\|endoftext\|>$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

const OPEN = new Set(['"', '“']);
const CLOSERS = new Set(['"', '”', "'", '’', ')']);

/**
 * Sentences of a story. A sentence ends at . ! or ? (and any closing quotes right after) followed by
 * white space, but never inside a double-quoted passage, so `He said, "Hi. Come in."` stays one sentence.
 * A line break always ends a sentence (paragraphs). White space inside a sentence is squeezed to one space.
 */
export function splitSentences(story) {
  const out = [];
  for (const para of story.split('\n')) {
    const p = para.replace(/\s+/g, ' ').trim();
    let start = 0;
    let quoted = false;
    for (let i = 0; i < p.length; i++) {
      const c = p[i];
      if (c === '"') quoted = !quoted;
      else if (c === '“') quoted = true;
      else if (c === '”') quoted = false;
      if (c !== '.' && c !== '!' && c !== '?') continue;
      let j = i + 1;
      while (j < p.length && (p[j] === '.' || p[j] === '!' || p[j] === '?')) j++;
      while (j < p.length && CLOSERS.has(p[j])) {
        if (p[j] === '"') quoted = !quoted;
        else if (p[j] === '”') quoted = false;
        j++;
      }
      if (quoted || j >= p.length || p[j] !== ' ') {
        i = j - 1;
        continue;
      }
      const next = p[j + 1] ?? '';
      if (!(/[A-Z0-9]/.test(next) || OPEN.has(next))) {
        i = j - 1;
        continue;
      }
      out.push(p.slice(start, j));
      start = j + 1;
      i = j;
    }
    if (start < p.length) out.push(p.slice(start));
  }
  return out.filter((s) => s.length > 0);
}

/** Sentences compared for sameness: lower case, letters and digits only. */
const norm = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();

/** The task's documents, from the text of the source file. */
export function makeDocuments(text, { count = DEFAULT_COUNT, seed = DEFAULT_SEED, source = SOURCE_FILE } = {}) {
  const rand = prng(seed);
  const int = (n) => Math.floor(rand() * n);
  const stories = splitStories(text).map(splitSentences);
  // every sentence, by position, for the distractors
  const byPos = [];
  stories.forEach((ss, story) =>
    ss.forEach((s, pos) => {
      if (s.length <= MAX_CHOICE_CHARS) (byPos[pos] ??= []).push({ story, s, key: norm(s) });
    }),
  );
  const order = stories.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const docs = [];
  for (const story of order) {
    if (docs.length >= count) break;
    const ss = stories[story];
    let k = K_MIN + int(K_MAX - K_MIN + 1);
    k = Math.min(k, ss.length - 1);
    // shorten the opening until it fits the model's context
    while (k >= K_MIN && ss.slice(0, k).join(' ').length > MAX_CONTEXT_CHARS) k--;
    if (k < K_MIN) continue;
    const truth = ss[k];
    if (truth.length > MAX_CHOICE_CHARS) continue;
    const taken = new Set([norm(truth)]);
    const pick = (lo, hi) => {
      const pool = [];
      for (let p = Math.max(1, k - 1); p <= k + 1; p++) {
        for (const c of byPos[p] ?? []) {
          if (c.story !== story && c.s.length >= truth.length * lo && c.s.length <= truth.length * hi && !taken.has(c.key)) pool.push(c);
        }
      }
      return pool;
    };
    const distractors = [];
    while (distractors.length < CHOICES - 1) {
      let pool = pick(0.75, 1.33);
      if (pool.length === 0) pool = pick(0.5, 2);
      if (pool.length === 0) break;
      const d = pool[int(pool.length)];
      taken.add(d.key);
      distractors.push(d.s);
    }
    if (distractors.length < CHOICES - 1) continue;
    const label = int(CHOICES);
    const choices = [...distractors];
    choices.splice(label, 0, truth);
    docs.push({ context: ss.slice(0, k).join(' '), choices, label, story, sentence: k, source });
  }
  return docs;
}

export function toJsonl(docs) {
  return docs.map((d) => JSON.stringify(d)).join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      source: { type: 'string', default: join(root, '..', 'shared', 'data', 'tinystories') },
      out: { type: 'string', default: join(root, 'models', 'tinystories-next-sentence.jsonl') },
      count: { type: 'string', default: String(DEFAULT_COUNT) },
      seed: { type: 'string', default: String(DEFAULT_SEED) },
      'if-stale': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  const src = join(values.source, SOURCE_FILE);
  const count = Number(values.count);
  const seed = Number(values.seed);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer, got ${values.count}`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
  if (!existsSync(src)) {
    if (values['if-stale']) process.exit(0);
    process.stderr.write(`make-tinystories-task: ${src} not found (the held-out TinyStories split from ../shared/data)\n`);
    process.exit(1);
  }
  if (values['if-stale'] && existsSync(values.out)) {
    const t = statSync(values.out).mtimeMs;
    if (t > statSync(src).mtimeMs && t > statSync(fileURLToPath(import.meta.url)).mtimeMs) process.exit(0);
  }
  const docs = makeDocuments(readFileSync(src, 'utf8'), { count, seed });
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, toJsonl(docs));
  if (!values.quiet) process.stderr.write(`make-tinystories-task: wrote ${docs.length} documents to ${values.out}\n`);
}
