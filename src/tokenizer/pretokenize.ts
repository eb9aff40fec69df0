// Pre-tokenizer: splits text into the pieces BPE runs on, with the Llama-3 regex (spec 5.2) or Qwen2's
// (the same but one digit per piece; Qwen3 and the BitNet embedding models built on it). Matches HF
// tokenizers / tiktoken splitting; used by Tokenizer.encode and trainBpe.

/** Pre-tokenizers implemented. Extend this union (and `PRE_TOKENIZER_REGEX`) to add one. */
export type PreTokenizerKind = 'llama3' | 'qwen2';

/** The Llama-3 pattern as written in tokenizer.json / tiktoken (Rust / Oniguruma syntax). */
export const LLAMA3_PATTERN =
  String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

// The same pattern for a JS `u` regex, two translations:
// * JS has no inline `(?i:...)`: it becomes explicit case classes, as llama.cpp does. Under Unicode simple
//   case folding (Rust regex, Oniguruma) `s` also matches U+017F LATIN SMALL LETTER LONG S, hence `[sSſ]`;
//   no other letter of these contractions has an extra fold.
// * JS `\s` differs from Rust/Oniguruma `\s` (Unicode White_Space): JS adds U+FEFF and lacks U+0085.
//   `\p{White_Space}` is the Rust/Oniguruma set.
const WS = String.raw`\p{White_Space}`;
const NWS = String.raw`\P{White_Space}`;
const LLAMA3_JS_SOURCE = [
  String.raw`'[sS\u017F]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]`,
  String.raw`[^\r\n\p{L}\p{N}]?\p{L}+`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^${WS}\p{L}\p{N}]+[\r\n]*`,
  String.raw`${WS}*[\r\n]+`,
  String.raw`${WS}+(?!${NWS})`,
  String.raw`${WS}+`,
].join('|');

/** Qwen2's pattern as written in its tokenizer.json: Llama-3's with `\p{N}` (one digit per piece) for `\p{N}{1,3}`. */
export const QWEN2_PATTERN = LLAMA3_PATTERN.replace(String.raw`\p{N}{1,3}`, String.raw`\p{N}`);
const QWEN2_JS_SOURCE = LLAMA3_JS_SOURCE.replace(String.raw`\p{N}{1,3}`, String.raw`\p{N}`);

const PRE_TOKENIZER_REGEX: Record<PreTokenizerKind, RegExp> = {
  llama3: new RegExp(LLAMA3_JS_SOURCE, 'gu'),
  qwen2: new RegExp(QWEN2_JS_SOURCE, 'gu'),
};

/**
 * Splits text into pre-tokenizer pieces. Text between matches, if any, is kept as its own piece
 * (HF `Split` behaviour "Isolated"); both patterns match every character, so there is none.
 */
export function pretokenize(text: string, kind: PreTokenizerKind = 'llama3'): string[] {
  return [...pretokenizeEach(text, kind)];
}

/** The pieces of pretokenize(), one at a time (a tokenization can stop early or pause between pieces). */
export function* pretokenizeEach(text: string, kind: PreTokenizerKind = 'llama3'): Generator<string, void, undefined> {
  const re = PRE_TOKENIZER_REGEX[kind];
  let last = 0;
  let pos = 0;
  for (;;) {
    // the regex is shared: set its position before every exec, another tokenization may run between pieces
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) break;
    if (m.index > last) yield text.slice(last, m.index);
    if (m[0] === '') {
      pos = re.lastIndex + 1;
      continue;
    }
    pos = last = re.lastIndex;
    yield m[0];
  }
  if (last < text.length) yield text.slice(last);
}
