// Exactness of encode against llama.cpp's 46 Llama-3 vectors and the spec 7 facts, with the genuine vocabulary
// loaded from tiktoken, tokenizer.json and GGUF metadata (all three must agree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tokenizer, llama3SpecialTokens, vocabFromTiktoken, vocabFromTokenizerJson, type BpeVocab } from '../../../src/tokenizer/index.js';
import { HAVE_SHARED, LENML, NO_SHARED, TIKTOKEN_FILE, ggufVocab, hfVocab, readJson, tiktokenVocab, vectors } from './data.js';

const sources: Array<[string, () => BpeVocab, boolean]> = [
  ['tiktoken', tiktokenVocab, true],
  ['tokenizer.json', hfVocab, false],
  ['gguf metadata', ggufVocab, false],
];

test('the vector files hold 46 inputs with 46 expected outputs', (t) => {
  if (!HAVE_SHARED) return t.skip(NO_SHARED);
  const v = vectors();
  assert.equal(v.length, 46);
  assert.equal(v[0]!.text, 'ied 4 ½ months');
  assert.equal(v[2]!.text, '');
  assert.deepEqual(v[2]!.ids, []);
  assert.ok(v[45]!.text.endsWith("We'Ve a'lL"));
});

for (const [name, load, needsShared] of sources) {
  test(`${name}: the 46 llama.cpp llama3-bpe vectors`, (t) => {
    if (!HAVE_SHARED) return t.skip(NO_SHARED);
    const tok = new Tokenizer(load());
    for (const { text, ids } of vectors()) {
      const got = tok.encode(text, { addBos: false });
      assert.deepEqual(got, ids, `input ${JSON.stringify(text)}`);
      assert.equal(tok.decode(got), text);
    }
  });

  test(`${name}: spec 7 vectors, BOS and stop tokens`, (t) => {
    if (needsShared && !HAVE_SHARED) return t.skip(NO_SHARED);
    const tok = new Tokenizer(load());
    assert.equal(tok.vocabSize, 128256);
    assert.deepEqual(tok.encode('Hello world'), [128000, 9906, 1917]);
    assert.deepEqual(tok.encode('The capital of France is'), [128000, 791, 6864, 315, 9822, 374]);
    assert.deepEqual(tok.encode('The future of AI'), [128000, 791, 3938, 315, 15592]);
    assert.deepEqual(tok.encode(' Paris', { addBos: false }), [12366]);
    assert.deepEqual(tok.encode('.', { addBos: false }), [13]);
    assert.deepEqual(tok.encode(' ', { addBos: false }), [220]);
    assert.deepEqual(tok.encode('\n', { addBos: false }), [198]);
    assert.deepEqual(tok.encode('Hello BitNet'), [128000, 9906, 6631, 7099]); // reference/…/greedy.prompt_tokens.json
    assert.deepEqual(tok.encode(''), [128000]);
    assert.equal(tok.bos, 128000);
    assert.equal(tok.eos, 128001);
    assert.equal(tok.eot, 128009);
    assert.equal(tok.addBos, true);
    assert.deepEqual(tok.stopTokens, [128001, 128009]);
    assert.equal(tok.tokenId('<|eot_id|>'), 128009);
    assert.equal(tok.tokenId('Ġworld'), 1917);
    assert.equal(tok.tokenId(' world'), 1917);
    assert.equal(tok.tokenId('no such token at all'), undefined);
    assert.equal(tok.tokenText(1917), 'Ġworld');
    assert.equal(tok.tokenText(128006), '<|start_header_id|>');
    assert.deepEqual([...tok.tokenBytes(1917)], [0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64]);
    assert.equal(tok.isSpecial(128009), true);
    assert.equal(tok.isSpecial(1917), false);
  });

  test(`${name}: parseSpecial`, (t) => {
    if (needsShared && !HAVE_SHARED) return t.skip(NO_SHARED);
    const tok = new Tokenizer(load());
    const prompt = '<|begin_of_text|>User: hi<|eot_id|>Assistant: ';
    const parsed = tok.encode(prompt, { parseSpecial: true, addBos: false });
    assert.deepEqual(parsed, [128000, 1502, 25, 15960, 128009, 72803, 25, 220]);
    const plain = tok.encode(prompt, { addBos: false });
    assert.ok(plain.every((id) => id < 128000), 'without parseSpecial no special id appears');
    assert.deepEqual(plain.slice(0, 7), [27, 91, 7413, 3659, 4424, 91, 29]); // "<", "|", "begin", "_of", "_text", "|", ">"
    assert.equal(tok.decode(plain), prompt);
    assert.equal(tok.decode(parsed), prompt);
    assert.equal(tok.decode(parsed, { skipSpecial: true }), 'User: hiAssistant: ');
    // spec 6.1 with a system prompt; adjacent specials and special text at the very start/end
    assert.deepEqual(
      tok.encode('<|start_header_id|><|end_header_id|>x<|eot_id|>', { parseSpecial: true, addBos: true }),
      [128000, 128006, 128007, 87, 128009],
    );
  });
}

test('tokenizer.json and GGUF give the same vocabulary (the dev dependency\'s genuine Llama-3 files)', () => {
  const b = hfVocab();
  const c = ggufVocab();
  assert.equal(b.tokens.length, 128256);
  assert.deepEqual(b.tokens, c.tokens);
  assert.deepEqual([...b.tokenTypes], [...c.tokenTypes]);
  assert.equal(b.merges?.length, 280147);
  for (const v of [b, c]) assert.deepEqual([v.bos, v.eos, v.eot, v.addBos, v.preTokenizer], [128000, 128001, 128009, true, 'llama3']);
});

test('tiktoken gives the vocabulary of tokenizer.json and GGUF', (t) => {
  if (!HAVE_SHARED) return t.skip(NO_SHARED);
  const a = tiktokenVocab();
  const b = hfVocab();
  const c = ggufVocab();
  assert.equal(a.tokens.length, 128256);
  assert.deepEqual(a.tokens.slice(0, 128000), b.tokens.slice(0, 128000));
  assert.deepEqual(a.tokens, b.tokens);
  assert.deepEqual(b.tokens, c.tokens);
  assert.deepEqual([...a.tokenTypes], [...b.tokenTypes]);
  assert.equal(a.merges, null);
  for (const v of [a, b, c]) {
    assert.deepEqual([v.bos, v.eos, v.eot, v.addBos, v.preTokenizer], [128000, 128001, 128009, true, 'llama3']);
  }
});

test('the genuine vocabulary loads fast', (t) => {
  const time = (what: string, load: () => BpeVocab): void => {
    const start = performance.now();
    const tok = new Tokenizer(load());
    tok.encode('warm up: antidisestablishmentarianism');
    const ms = performance.now() - start;
    t.diagnostic(`${what}: ${ms.toFixed(0)} ms`);
    assert.ok(ms < 3000, `${what}: ${ms} ms`);
  };
  time('tokenizer.json read + JSON.parse + vocab + Tokenizer', () =>
    vocabFromTokenizerJson(readJson(`${LENML}tokenizer.json`), readJson(`${LENML}tokenizer_config.json`)),
  );
  if (HAVE_SHARED) {
    time('tiktoken read + vocab + Tokenizer', () => vocabFromTiktoken(readFileSync(TIKTOKEN_FILE, 'utf8'), llama3SpecialTokens()));
  }
});
