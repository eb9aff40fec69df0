// The byte-level alphabet and the Llama-3 pre-tokenizer split (Rust regex / Oniguruma semantics in JS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BYTE_TO_CHAR, bytesToTokenString, pretokenize, textToTokenString, tokenStringToBytes } from '../../../src/tokenizer/index.js';

test('bytes_to_unicode is a bijection with the GPT-2 layout', () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[0x20], 'Ġ');
  assert.equal(BYTE_TO_CHAR[0x0a], 'Ċ');
  assert.equal(BYTE_TO_CHAR[0x00], '\u0100');
  assert.equal(BYTE_TO_CHAR[0x41], 'A');
  assert.equal(BYTE_TO_CHAR[0xad], '\u0143'); // soft hyphen: the last remapped byte
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(tokenStringToBytes(bytesToTokenString(all)), all);
  assert.equal(textToTokenString(' world\n'), 'ĠworldĊ');
  assert.equal(textToTokenString('é'), 'Ã©');
  assert.equal(tokenStringToBytes('a b'), null, 'U+0020 is not in the byte-level alphabet');
});

test('Llama-3 pre-tokenizer pieces', () => {
  const cases: Array<[string, string[]]> = [
    ['Hello world', ['Hello', ' world']],
    ["I'm sure it's", ['I', "'m", ' sure', ' it', "'s"]],
    ["WE'LL DON'T", ['WE', "'LL", ' DON', "'T"]],
    ['12345 1.5', ['123', '45', ' ', '1', '.', '5']],
    ['  \n\n  x', ['  \n\n', ' ', ' x']],
    ['a   b', ['a', '  ', ' b']],
    ['x...!!\n\ny', ['x', '...!!\n\n', 'y']],
    ['end  ', ['end', '  ']],
    ['¡Hola!', ['¡Hola', '!']],
    ['世界🦙', ['世界', '🦙']],
    ['', []],
    // (?i:'s) also matches U+017F LONG S under Unicode simple case folding (Rust regex, Oniguruma)
    ["it'ſt", ['it', "'ſ", 't']],
    // Rust/Oniguruma \s is Unicode White_Space: U+0085 is whitespace, U+FEFF is not (JS \s says the opposite)
    ['x\u0085\u0085y', ['x', '\u0085', '\u0085y']],
    ['a\uFEFF\uFEFFb', ['a', '\uFEFF\uFEFF', 'b']],
  ];
  for (const [text, pieces] of cases) assert.deepEqual(pretokenize(text), pieces, JSON.stringify(text));
});

test('pieces always concatenate back to the text', () => {
  const text = "Don't   stop!\r\n\tThe 2024-11-22 log: ok…\u00a0\u2028 x\uD800y 🦙🦙";
  assert.equal(pretokenize(text).join(''), text);
});
