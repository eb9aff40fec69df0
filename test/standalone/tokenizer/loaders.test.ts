// Loader details that the genuine files do not exercise: tokenizer.json variants (merges as pairs,
// TemplateProcessing BOS, config forms, id holes) and the Llama-3 special-token table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LLAMA3_PATTERN, TokenType, Tokenizer, llama3SpecialTokens, trainBpe, vocabFromTokenizerJson, type BpeVocab } from '../../../src/tokenizer/index.js';

const TEXT = 'the cat sat on the mat. the dog ran to the cat! 123 4567 "quoted" text, and more text.\n'.repeat(20);
const trained = trainBpe(TEXT, { vocabSize: 300, specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'] });

/** tokenizer.json for a BpeVocab, in the newer layout (merges as pairs, BOS via TemplateProcessing in a Sequence). */
function tokenizerJson(v: BpeVocab, post: unknown): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  const added: unknown[] = [];
  v.tokens.forEach((t, id) => {
    if (v.tokenTypes[id] === TokenType.CONTROL) added.push({ id, content: t, special: true });
    else vocab[t] = id;
  });
  return {
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: LLAMA3_PATTERN }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: post,
    model: { type: 'BPE', ignore_merges: true, vocab, merges: v.merges!.map((m) => m.split(' ')) },
  };
}

const template = {
  type: 'Sequence',
  processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [trained.bos], tokens: ['<|begin_of_text|>'] } },
    },
  ],
};

test('tokenizer.json: merges as pairs, BOS from a TemplateProcessing, no config', () => {
  const v = vocabFromTokenizerJson(tokenizerJson(trained, template));
  assert.deepEqual(v.tokens, trained.tokens);
  assert.deepEqual([...v.tokenTypes], [...trained.tokenTypes]);
  assert.deepEqual(v.merges, trained.merges);
  assert.deepEqual([v.bos, v.eos, v.eot, v.addBos], [trained.bos, null, trained.eot, true]);
  assert.deepEqual(new Tokenizer(v).encode(TEXT), new Tokenizer(trained).encode(TEXT));
});

test('tokenizer.json: config forms decide BOS/EOS/PAD and add_bos_token', () => {
  const json = tokenizerJson(trained, { type: 'ByteLevel' });
  assert.equal(vocabFromTokenizerJson(json).addBos, false, 'no BOS known');
  const v = vocabFromTokenizerJson(json, { bos_token: { content: '<|begin_of_text|>' }, eos_token: '<|end_of_text|>', pad_token: '<|eot_id|>' });
  assert.deepEqual([v.bos, v.eos, v.pad, v.addBos], [trained.bos, trained.eos, trained.eot, true]);
  const noBos = vocabFromTokenizerJson(tokenizerJson(trained, template), { add_bos_token: false });
  assert.deepEqual([noBos.bos, noBos.addBos], [trained.bos, false]);
  const noTemplateBos = vocabFromTokenizerJson(tokenizerJson(trained, { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A' } }] }), {
    bos_token: '<|begin_of_text|>',
  });
  assert.equal(noTemplateBos.addBos, false, 'a template that inserts no BOS');
});

test('tokenizer.json: holes in the id space become UNUSED and non-special added tokens USER_DEFINED', () => {
  const json = tokenizerJson(trained, null);
  (json['added_tokens'] as unknown[]).push({ id: 310, content: '<tool>', special: false });
  const tok = new Tokenizer(vocabFromTokenizerJson(json));
  assert.equal(tok.vocabSize, 311);
  assert.equal(tok.vocab.tokenTypes[305], TokenType.UNUSED);
  assert.equal(tok.tokenText(305), '');
  assert.equal(tok.vocab.tokenTypes[310], TokenType.USER_DEFINED);
  assert.equal(tok.isSpecial(310), true);
  // USER_DEFINED text is always split out (HF added tokens, llama.cpp); CONTROL only with parseSpecial
  assert.equal(tok.encode('a<tool>b<|eot_id|>', { addBos: false }).filter((id) => id >= 297).join(), '310');
  assert.equal(tok.decode(tok.encode('a<tool>b', { addBos: false }), { skipSpecial: true }), 'a<tool>b');
});

test('llama3SpecialTokens is the 2B4T table', () => {
  const s = llama3SpecialTokens();
  assert.equal(s.length, 256);
  assert.deepEqual(s.slice(0, 10), [
    ['<|begin_of_text|>', 128000],
    ['<|end_of_text|>', 128001],
    ['<|reserved_special_token_0|>', 128002],
    ['<|reserved_special_token_1|>', 128003],
    ['<|reserved_special_token_2|>', 128004],
    ['<|reserved_special_token_3|>', 128005],
    ['<|start_header_id|>', 128006],
    ['<|end_header_id|>', 128007],
    ['<|reserved_special_token_4|>', 128008],
    ['<|eot_id|>', 128009],
  ]);
  assert.deepEqual(s[10], ['<|reserved_special_token_5|>', 128010]);
  assert.deepEqual(s[255], ['<|reserved_special_token_250|>', 128255]);
});
