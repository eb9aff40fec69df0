// trainBpe: deterministic, requested size, specials at the end, round trip, and the trained vocabulary behaving
// the same when it travels through GGUF metadata.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../../src/util/rng.js';
import { TokenType, Tokenizer, trainBpe, vocabFromGguf } from '../../../src/tokenizer/index.js';
import { HAVE_SHARED, NO_SHARED, SHARED_DATA } from './data.js';

const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'];
const WORDS = ('the a little cat dog sat ran jumped over under happy sad big small red blue tree house park ' +
  "mom dad friend played with ball and then she he they it was were is not don't can't I'm we'll " +
  'café naïve 世界 🦙 12 345 6789 , . ! ? "hello" (yes)').split(' ');

/** ~5 KB of deterministic pseudo-sentences with newlines, digits, punctuation, non-ASCII and a special token. */
function corpus(seed: number): string {
  const rng = new Rng(seed);
  let text = '';
  while (text.length < 5000) {
    const n = 3 + (rng.nextU32() % 10);
    const words = Array.from({ length: n }, () => WORDS[rng.nextU32() % WORDS.length]!);
    text += words.join(' ') + (rng.nextU32() % 4 === 0 ? '\n\n' : rng.nextU32() % 9 === 0 ? '<|end_of_text|>' : '. ');
  }
  return text;
}

test('trainBpe is deterministic, sized as asked, with the specials at the end', () => {
  const text = corpus(1);
  const start = performance.now();
  const a = trainBpe(text, { vocabSize: 400, specials: SPECIALS });
  const ms = performance.now() - start;
  assert.ok(ms < 1000, `${ms} ms`);
  const b = trainBpe(text, { vocabSize: 400, specials: SPECIALS });
  assert.deepEqual(a, b);
  assert.equal(a.tokens.length, 400);
  assert.equal(a.tokenTypes.length, 400);
  assert.equal(a.merges!.length, 400 - 256 - 3);
  assert.deepEqual(a.tokens.slice(397), SPECIALS);
  assert.deepEqual([...a.tokenTypes.slice(396)], [TokenType.NORMAL, TokenType.CONTROL, TokenType.CONTROL, TokenType.CONTROL]);
  assert.deepEqual([a.bos, a.eos, a.eot, a.pad, a.addBos], [397, 398, 399, null, true]);
  assert.equal(new Set(a.tokens).size, 400);
  assert.ok(!a.tokens.slice(0, 397).some((t) => t.includes('end_of')), 'special text is cut out of the training text');
  const c = trainBpe(corpus(2), { vocabSize: 400, specials: SPECIALS });
  assert.notDeepEqual(a.merges, c.merges);
});

test('a trained tokenizer round-trips its training text and compresses it', () => {
  const text = corpus(3);
  const tok = new Tokenizer(trainBpe(text, { vocabSize: 500, specials: SPECIALS }));
  const ids = tok.encode(text, { addBos: false });
  assert.equal(tok.decode(ids), text);
  assert.ok(ids.length < new TextEncoder().encode(text).length / 2, `${ids.length} tokens`);
  const parsed = tok.encode(text, { parseSpecial: true });
  assert.equal(parsed[0], tok.bos);
  assert.ok(parsed.includes(tok.eos!));
  assert.equal(tok.decode(parsed, { skipSpecial: true }), text.replaceAll('<|end_of_text|>', ''));
  assert.deepEqual(tok.stopTokens, [tok.eos, tok.eot]);
  // unseen text still encodes (all 256 bytes are tokens)
  const other = 'Zebra\u0000\u00ff ☃ quartz';
  assert.equal(tok.decode(tok.encode(other, { addBos: false })), other);
});

test('a trained vocabulary gives the same ids through GGUF metadata', () => {
  const text = corpus(4);
  const v = trainBpe(text, { vocabSize: 450, specials: SPECIALS });
  const meta = new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', v.tokens],
    ['tokenizer.ggml.token_type', v.tokenTypes],
    ['tokenizer.ggml.merges', v.merges],
    ['tokenizer.ggml.bos_token_id', v.bos],
    ['tokenizer.ggml.eos_token_id', BigInt(v.eos!)],
  ]);
  const fromGguf = vocabFromGguf(meta);
  assert.equal(fromGguf.eot, v.eot, 'eot found by its text');
  assert.deepEqual(new Tokenizer(fromGguf).encode(text), new Tokenizer(v).encode(text));
});

test('trainBpe rejects a vocabulary too small for bytes + specials', () => {
  assert.throws(() => trainBpe('abc', { vocabSize: 258, specials: SPECIALS }), /vocabSize/);
});

test('trainBpe scales to a real corpus', (t) => {
  if (!HAVE_SHARED) return t.skip(NO_SHARED);
  const text = readFileSync(`${SHARED_DATA}tinystories/tinystories_v1_valid_head.txt`, 'utf8');
  const start = performance.now();
  const tok = new Tokenizer(trainBpe(text, { vocabSize: 4096, specials: SPECIALS }));
  const ms = performance.now() - start;
  const ids = tok.encode(text, { addBos: false });
  t.diagnostic(`${(text.length / 1e6).toFixed(2)} MB -> 4096 tokens in ${ms.toFixed(0)} ms; ${(text.length / ids.length).toFixed(2)} bytes/token`);
  assert.equal(tok.decode(ids), text);
  assert.ok(ms < 10000);
});
