// Failures are BitnetError('TOKENIZER') naming the key, token or id at fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BitnetError } from '../../../src/errors.js';
import { BYTE_TO_CHAR, Tokenizer, vocabFromGguf, vocabFromTiktoken, vocabFromTokenizerJson } from '../../../src/tokenizer/index.js';

function throwsTokenizer(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BitnetError, String(e));
    assert.equal(e.code, 'TOKENIZER');
    assert.match(e.message, message);
    return true;
  });
}

/** A minimal valid GGUF vocabulary: the 256 bytes, "ab", and <|end_of_text|>. */
function meta(extra: Record<string, unknown> = {}, drop: string[] = []): Map<string, unknown> {
  const m = new Map<string, unknown>([
    ['tokenizer.ggml.model', 'gpt2'],
    ['tokenizer.ggml.tokens', [...BYTE_TO_CHAR, 'ab', '<|end_of_text|>']],
    ['tokenizer.ggml.token_type', Int32Array.from({ length: 258 }, (_, i) => (i === 257 ? 3 : 1))],
    ['tokenizer.ggml.merges', ['a b']],
    ['tokenizer.ggml.eos_token_id', 257],
    ...Object.entries(extra),
  ]);
  for (const k of drop) m.delete(k);
  return m;
}

test('the minimal GGUF vocabulary works', () => {
  const tok = new Tokenizer(vocabFromGguf(meta()));
  assert.deepEqual(tok.encode('abc<|end_of_text|>', { parseSpecial: true }), [256, 99, 257]);
  assert.equal(tok.addBos, false);
  assert.deepEqual(tok.stopTokens, [257]);
});

test('GGUF: unsupported model, missing and mistyped keys', () => {
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.model': 'llama' })), /tokenizer\.ggml\.model.*unsupported tokenizer model "llama"/);
  throwsTokenizer(() => vocabFromGguf(meta({}, ['tokenizer.ggml.model'])), /tokenizer\.ggml\.model: missing/);
  throwsTokenizer(() => vocabFromGguf(meta({}, ['tokenizer.ggml.tokens'])), /tokenizer\.ggml\.tokens: missing key/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.tokens': new Int32Array(3) })), /tokenizer\.ggml\.tokens: expected an array of strings/);
  throwsTokenizer(() => vocabFromGguf(meta({}, ['tokenizer.ggml.merges'])), /tokenizer\.ggml\.merges: missing key/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.token_type': new Int32Array(5) })), /tokenizer\.ggml\.token_type: has 5 entries/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.token_type': ['x'] })), /tokenizer\.ggml\.token_type: expected an integer array/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.bos_token_id': '0' })), /tokenizer\.ggml\.bos_token_id: expected an integer/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.bos_token_id': 9999 })), /tokenizer\.ggml\.bos_token_id: token id 9999 out of range/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.add_bos_token': 1 })), /tokenizer\.ggml\.add_bos_token: expected a bool/);
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.pre': 'gpt-2' })), /tokenizer\.ggml\.pre: unsupported pre-tokenizer "gpt-2"/);
  assert.equal(vocabFromGguf(meta({ 'tokenizer.ggml.pre': 'qwen2' })).preTokenizer, 'qwen2');
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.add_eos_token': 'yes' })), /tokenizer\.ggml\.add_eos_token: expected a bool/);
  for (const pre of ['llama-bpe', 'llama3', 'default', 'smaug-bpe']) {
    assert.equal(vocabFromGguf(meta({ 'tokenizer.ggml.pre': pre })).preTokenizer, 'llama3');
  }
  assert.equal(vocabFromGguf(meta({ 'tokenizer.ggml.bos_token_id': 5n })).bos, 5);
  assert.equal(vocabFromGguf(meta({ 'tokenizer.ggml.padding_token_id': 0xffffffff })).pad, null, 'out-of-range PAD is ignored, as llama.cpp does');
  throwsTokenizer(() => vocabFromGguf(meta({ 'tokenizer.ggml.padding_token_id': 'x' })), /tokenizer\.ggml\.padding_token_id: expected an integer/);
});

test('out-of-range ids name the id', () => {
  const tok = new Tokenizer(vocabFromGguf(meta()));
  throwsTokenizer(() => tok.decode([97, 258]), /token id 258 out of range \[0, 258\)/);
  throwsTokenizer(() => tok.decode([-1]), /token id -1 out of range/);
  throwsTokenizer(() => tok.tokenText(1.5), /token id 1\.5 out of range/);
  throwsTokenizer(() => tok.tokenBytes(1e9), /token id 1000000000 out of range/);
  throwsTokenizer(() => tok.isSpecial(258), /token id 258/);
  throwsTokenizer(() => tok.createStreamDecoder().push(300), /token id 300/);
  throwsTokenizer(() => tok.encode('x', { addBos: true }), /no BOS token/);
});

test('broken merges and vocabularies', () => {
  // "a c" makes "ac", which is not a token: found when that merge is first needed
  const tok = new Tokenizer(vocabFromGguf(meta({ 'tokenizer.ggml.merges': ['a c'] })));
  throwsTokenizer(() => tok.encode('ac'), /merge 0 "a c"/);
  throwsTokenizer(() => vocabFromTokenizerJson({ model: { type: 'Unigram', vocab: [] } }), /model\.type.*"Unigram"/);
  throwsTokenizer(() => vocabFromTokenizerJson({ model: { type: 'BPE', vocab: {}, merges: [] }, pre_tokenizer: { type: 'ByteLevel', use_regex: true } }), /pre_tokenizer/);
  throwsTokenizer(() => vocabFromTokenizerJson('nope'), /tokenizer\.json/);
  throwsTokenizer(() => vocabFromTiktoken('IQ== 0\nnot-base64! 1\n', []), /tiktoken: line 2: invalid base64/);
  throwsTokenizer(() => vocabFromTiktoken('IQ== x\n', []), /tiktoken: line 1: expected "base64 rank"/);
  throwsTokenizer(() => vocabFromTiktoken('IQ== 0\n', [['<|x|>', 0]]), /<\|x\|>: id 0 is already taken/);
});
