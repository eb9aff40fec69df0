// Bounded tokenization for servers: maxTokens stops at limit + 1 tokens (what a long prompt costs before it
// is refused), encodeSegmentsAsync gives the event loop turns while it works and equals encodeSegments,
// and maxTokenBytes bounds the bytes of every token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tokenizer, trainBpe } from '../../../src/tokenizer/index.js';

const TEXT = 'Lily went to the park with her dog. They played all day, and the sun was warm. ';
const tk = new Tokenizer(trainBpe(TEXT.repeat(4), { vocabSize: 256 + 60 + 3, specials: ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'] }));

test('maxTokens stops at limit + 1 tokens, the prefix of the full tokenization, without paying for the rest', () => {
  const long = TEXT.repeat(20_000); // 1.6 MB
  const t0 = performance.now();
  const full = tk.encode(long, { addBos: false });
  const fullMs = performance.now() - t0;
  const t1 = performance.now();
  const cut = tk.encode(long, { addBos: false, maxTokens: 100 });
  const cutMs = performance.now() - t1;
  assert.equal(cut.length, 101);
  assert.deepEqual(cut, full.slice(0, 101));
  assert.ok(cutMs < fullMs / 10, `${cutMs.toFixed(1)} ms with maxTokens vs ${fullMs.toFixed(1)} ms in full`);
  // a text that fits is whole; special tokens count too
  assert.deepEqual(tk.encode('a<|eot_id|>b', { parseSpecial: true, maxTokens: 100 }), tk.encode('a<|eot_id|>b', { parseSpecial: true }));
  assert.equal(tk.encode('<|eot_id|>'.repeat(50), { parseSpecial: true, addBos: false, maxTokens: 10 }).length, 11);
});

test('encodeSegmentsAsync gives the event loop turns and gives what encodeSegments gives', async () => {
  const segments = [
    { text: TEXT.repeat(5_000), special: true },
    { text: '<|eot_id|> typed', special: false },
    { text: '<|eot_id|>', special: true },
  ];
  let turns = 0;
  let running = true;
  const spin = (): void => {
    turns++;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  const ids = await tk.encodeSegmentsAsync(segments, { sliceMs: 2 });
  running = false;
  assert.deepEqual(ids, tk.encodeSegments(segments));
  assert.ok(turns > 3, `${turns} event loop turns during the tokenization`);
  // segments: the text segment's special text is text, the markup's is the token
  const eot = tk.tokenId('<|eot_id|>')!;
  assert.equal(ids.filter((id) => id === eot).length, 1);
  // an abort stops it between slices
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(tk.encodeSegmentsAsync(segments, { sliceMs: 0, signal: ac.signal }));
});

test('maxTokenBytes is the longest token in UTF-8 bytes, special texts included', () => {
  let max = 0;
  for (let id = 0; id < tk.vocabSize; id++) max = Math.max(max, tk.tokenBytes(id).length);
  assert.equal(tk.maxTokenBytes, max);
  assert.ok(tk.maxTokenBytes >= '<|begin_of_text|>'.length);
});
