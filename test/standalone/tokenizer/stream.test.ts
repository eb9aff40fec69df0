// Streaming detokenizer: multi-byte characters split across tokens come out whole, and push()* + flush()
// equals decode().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BYTE_TO_CHAR, Tokenizer } from '../../../src/tokenizer/index.js';
import { hfVocab } from './data.js';

const tok = new Tokenizer(hfVocab());

/** Pushes every id; returns the outputs of push() and flush(). */
function stream(ids: readonly number[], skipSpecial = false): string[] {
  const d = tok.createStreamDecoder({ skipSpecial });
  return [...ids.map((id) => d.push(id)), d.flush()];
}

/** True if s holds no unpaired surrogate (i.e. no half of a character). */
function whole(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

test('multi-byte characters split across tokens come out whole', () => {
  for (const text of ['héllo 🦙 世界', '🦙🦙🦙 lamas', 'Ελληνικά и русский, 日本語のテキスト', '👩‍👩‍👧 ⚡️ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢']) {
    const ids = tok.encode(text, { addBos: false });
    const outs = stream(ids);
    assert.equal(outs.join(''), text);
    assert.equal(outs.join(''), tok.decode(ids));
    for (const o of outs) {
      assert.ok(whole(o), `half a character in ${JSON.stringify(o)}`);
      assert.ok(!o.includes('\uFFFD'), `replacement character in ${JSON.stringify(o)}`);
    }
  }
  // 🦙 is 4 bytes over several tokens: the first pushes return ''
  const llama = tok.encode('🦙', { addBos: false });
  assert.ok(llama.length > 1);
  assert.deepEqual(stream(llama), [...llama.slice(1).map(() => ''), '🦙', '']);
});

test('single-byte tokens: held until the character completes; flush turns leftovers into U+FFFD', () => {
  const ids = [0xe2, 0x82, 0xac].map((b) => tok.tokenId(BYTE_TO_CHAR[b]!)!); // the bytes of "€"
  assert.deepEqual(stream(ids), ['', '', '€', '']);
  const d = tok.createStreamDecoder();
  assert.equal(d.push(ids[0]!), '');
  assert.equal(d.push(tok.tokenId('a')!), '\uFFFDa');
  assert.equal(d.push(ids[0]!), '');
  assert.equal(d.push(ids[1]!), '');
  assert.equal(d.flush(), '\uFFFD');
  assert.equal(tok.decode([ids[0]!, ids[1]!]), '\uFFFD');
});

test('a leading BOM survives, special tokens render unless skipped', () => {
  const ids = tok.encode('\uFEFFhi', { addBos: false });
  assert.equal(stream(ids).join(''), '\uFEFFhi');
  assert.equal(tok.decode(ids), '\uFEFFhi');
  const chat = tok.encode('<|begin_of_text|>User: 🦙<|eot_id|>', { parseSpecial: true, addBos: false });
  assert.equal(stream(chat).join(''), '<|begin_of_text|>User: 🦙<|eot_id|>');
  assert.equal(stream(chat, true).join(''), 'User: 🦙');
  assert.equal(tok.decode(chat, { skipSpecial: true }), 'User: 🦙');
  assert.deepEqual([...tok.decodeBytes(chat.slice(0, 2))], [...new TextEncoder().encode('<|begin_of_text|>User')]);
});
